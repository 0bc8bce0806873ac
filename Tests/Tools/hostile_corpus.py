#!/usr/bin/env python3
"""A seeded corpus of hostile records, mutated from generated ones (issue 27), and a driver that
sends it to the webhook gateway.

  hostile_corpus.py make SEED COUNT INPUT OUT
      Writes COUNT records, one per line, to OUT: each a record of INPUT (generated NDJSON) put
      through one of the mutations below, chosen by the seeded RNG. No record holds a newline
      byte, so each line is one record. Prints {"seed", "records", "by_mutation": {...}}.

  hostile_corpus.py webhooks SEED CORPUS PORT WHATSAPP_SECRET PAYSTACK_SECRET
      Sends every record of CORPUS, signed, to the gateway on PORT: as the raw body of a WhatsApp
      and of a Paystack webhook, and inside webhook-shaped bodies (its text as a message body and
      as Paystack metadata, its numbers as timestamps and amounts). Checks /healthz after every
      500 requests. Prints {"seed", "requests", "by_status": {...}, "healthz_failures": n,
      "unexpected": [...first few...]}.
"""
import hashlib
import hmac
import http.client
import json
import random
import sys

HUGE_NUMBERS = ["9223372036854775808", "-9223372036854775809", "1e400", "-1e400", "18446744073709551616",
                "9223372036854776", "-9223372036854775808", "1" + "0" * 400, "0.000000000000000000001", "1e-400", "NaN", "Infinity"]
ODD_UNICODE = ["\\ud800", "\\udfff", "\\ud83d\\ude00", "\u202e", "\ufeff", "\uffff", "\u0000", "\\u0000", "\u2028", "é" * 64,
               "\U0001F600" * 32, "\u0301" * 100]
ODD_TIMES = ["9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", "2026-02-29T00:00:00Z",
             "2026-03-01T24:00:00Z", "2026-03-01T10:00:00.999999999999Z", "99999-01-01T00:00:00Z", "2026-03-01T10:00:00-00:00",
             "2030-01-01T00:00:00Z", "1970-01-01T00:00:00Z", ""]


def mutate(rng, raw):
    """(name, bytes): one mutation of one record."""
    # Weighted: 2 MB strings and 100,000-deep nesting are a few dozen records (the corpus stays
    # tens of MB), every other mutation about a tenth of it.
    kinds = ["flip", "truncate", "nul", "control", "number", "nesting", "big_string", "unicode", "time", "duplicate_key",
             "valid", "type_swap", "drop_field"]
    weights = [10, 8, 10, 8, 12, 1, 0.3, 10, 10, 8, 8, 8, 8]
    kind = rng.choices(kinds, weights)[0]
    b = bytearray(raw)
    if kind == "flip":
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        b = b[: rng.randrange(len(b))]
    elif kind == "nul":
        s = b.decode("utf-8", "replace")
        i = s.find('":"', rng.randrange(len(s)))
        s = s[: i + 3] + "\\u0000" + s[i + 3:] if i >= 0 else s.replace('"t-', '"t-\\u0000', 1)
        b = bytearray(s.encode())
    elif kind == "control":
        i = rng.randrange(len(b))
        b[i:i] = bytes([rng.choice([0, 1, 7, 8, 9, 11, 12, 27, 31, 127])])
    elif kind == "number":
        doc = json.loads(raw)
        data = doc.get("data") if isinstance(doc, dict) else None
        keys = [k for k, v in (data or {}).items() if isinstance(v, (int, float)) or k in ("amount", "total_amount", "lat", "lng", "subtotal")]
        n = rng.choice(HUGE_NUMBERS)
        if keys:
            data[rng.choice(keys)] = "@@N@@"
        else:
            doc["timestamp"] = "@@N@@"
        b = bytearray(json.dumps(doc).replace('"@@N@@"', n).encode())
    elif kind == "nesting":
        depth = rng.choice([129, 1000, 100_000])
        b = bytearray(b"[" * depth + b"]" * depth) if rng.random() < 0.5 else bytearray(raw[:-1] + b',"x":' + b"[" * depth + b"]" * depth + b"}")
    elif kind == "big_string":
        size = rng.choice([1 << 20, 2 << 20, (1 << 20) - 400])
        doc = json.loads(raw)
        doc["metadata"] = {"note": "x" * size}
        b = bytearray(json.dumps(doc).encode())
    elif kind == "unicode":
        doc = json.loads(raw)
        u = rng.choice(ODD_UNICODE)
        field = rng.choice(["event_id", "tenant_id", "correlation_id"])
        text = json.dumps(doc).replace(json.dumps(doc.get(field, "")), '"' + u + '"', 1) if isinstance(doc.get(field), str) else json.dumps(doc)
        b = bytearray(text.encode("utf-8", "surrogatepass"))
    elif kind == "time":
        doc = json.loads(raw)
        doc["timestamp"] = rng.choice(ODD_TIMES)
        b = bytearray(json.dumps(doc).encode())
    elif kind == "duplicate_key":
        s = raw.decode()
        dup = rng.choice(['"event_type":"order.created",', '"tenant_id":"t-9999",', '"version":"2.0",', '"event_id":"dup",'])
        b = bytearray((s[:1] + dup + s[1:]).encode())
    elif kind == "type_swap":
        doc = json.loads(raw)
        k = rng.choice(list(doc.keys()))
        doc[k] = rng.choice([None, 0, [], {}, True, "x", -1])
        b = bytearray(json.dumps(doc).encode())
    elif kind == "drop_field":
        doc = json.loads(raw)
        if isinstance(doc.get("data"), dict) and doc["data"]:
            doc["data"].pop(rng.choice(list(doc["data"].keys())))
        b = bytearray(json.dumps(doc).encode())
    b = bytes(b).replace(b"\n", b" ").replace(b"\r", b" ")
    return kind, b if b.strip() else b"{}"


def make(seed, count, source, out):
    rng = random.Random(seed)
    with open(source, "rb") as f:
        records = [l.rstrip(b"\n") for l in f if l.strip()]
    by = {}
    with open(out, "wb") as f:
        for _ in range(count):
            kind, b = mutate(rng, rng.choice(records))
            by[kind] = by.get(kind, 0) + 1
            f.write(b + b"\n")
    print(json.dumps({"seed": seed, "records": count, "by_mutation": by}))


def webhooks(seed, corpus, port, wa_secret, ps_secret):
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    by, unexpected, failures, sent = {}, [], 0, 0

    def post(path, body, header, sig):
        nonlocal conn, sent
        sent += 1
        for attempt in range(2):
            try:
                conn.request("POST", path, body=body, headers={header: sig, "Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                return r.status
            except (http.client.HTTPException, OSError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        return 0

    def whatsapp(body):
        return post("/webhooks/whatsapp", body, "X-Hub-Signature-256", "sha256=" + hmac.new(wa_secret, body, hashlib.sha256).hexdigest())

    def paystack(body):
        return post("/webhooks/paystack", body, "x-paystack-signature", hmac.new(ps_secret, body, hashlib.sha512).hexdigest())

    def healthy():
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/healthz")
            ok = c.getresponse().status == 200
            c.close()
            return ok
        except OSError:
            return False

    with open(corpus, "rb") as f:
        lines = [l.rstrip(b"\n") for l in f]
    for raw in lines:
        text = raw.decode("utf-8", "replace")
        number = rng.choice(HUGE_NUMBERS + ["1772355600", "-1", "0", "99.999"])
        shaped_wa = ('{"object":"whatsapp_business_account","entry":[{"id":"W","changes":[{"field":"messages","value":{"messaging_product":"whatsapp",'
                     '"metadata":{"phone_number_id":"106540352242922"},"messages":[{"from":"27821234567","id":' + json.dumps("wamid." + text[:200])
                     + ',"timestamp":' + rng.choice(['"' + number + '"', number]) + ',"type":"text","text":{"body":' + json.dumps(text) + '}}]}}]}]}').encode("utf-8", "surrogatepass")
        shaped_ps = ('{"event":"charge.success","data":{"id":' + number + ',"reference":' + json.dumps(text[:300]) + ',"amount":' + number
                     + ',"paid_at":' + json.dumps(rng.choice(ODD_TIMES)) + ',"metadata":{"tenant_id":' + json.dumps(text[:64]) + ',"order_id":"o-1","note":'
                     + json.dumps(text) + '}}}').encode("utf-8", "surrogatepass")
        for status in (whatsapp(raw), paystack(raw), whatsapp(shaped_wa), paystack(shaped_ps)):
            by[status] = by.get(status, 0) + 1
            if status not in (200, 400, 413) and len(unexpected) < 5:
                unexpected.append({"status": status, "record": text[:300]})
        if sent % 500 < 4 and not healthy():
            failures += 1
    if not healthy():
        failures += 1
    print(json.dumps({"seed": seed, "requests": sent, "by_status": {str(k): v for k, v in by.items()}, "healthz_failures": failures,
                      "unexpected": unexpected}))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        webhooks(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5].encode(), sys.argv[6].encode())
