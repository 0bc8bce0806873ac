#!/usr/bin/env python3
"""Makes a JWT with PyJWT (a library we did not write), for the API's tests and benchmarks.

usage: jwt_token.py [--secret S | --key PRIVATE.pem] [--alg HS256|RS256|HS512|none] [--tenant T]
                    [--role R] [--exp-in SECONDS] [--no-exp] [--claim NAME=JSON]...
  --claim sets any claim to a JSON value, e.g. --claim 'nbf=1790000000' --claim 'aud=["x"]';
  a value "now+N" / "now-N" is the current time plus or minus N seconds.
Prints the token."""
import argparse
import time

import jwt

p = argparse.ArgumentParser()
p.add_argument("--secret")
p.add_argument("--key")
p.add_argument("--alg", default="HS256")
p.add_argument("--tenant")
p.add_argument("--role")
p.add_argument("--exp-in", type=int, default=3600)
p.add_argument("--no-exp", action="store_true")
p.add_argument("--claim", action="append", default=[])
a = p.parse_args()
claims = {}
if a.tenant is not None:
    claims["tenant_id"] = a.tenant
if a.role:
    claims["role"] = a.role
if not a.no_exp:
    claims["exp"] = int(time.time()) + a.exp_in
for c in a.claim:
    name, value = c.split("=", 1)
    if value.startswith("now+") or value.startswith("now-"):
        claims[name] = int(time.time()) + int(value[3:])
    else:
        import json
        claims[name] = json.loads(value)
if a.alg == "none":
    print(jwt.encode(claims, None, algorithm="none"))
elif a.alg.startswith("RS"):
    print(jwt.encode(claims, open(a.key).read(), algorithm=a.alg))
else:
    print(jwt.encode(claims, a.secret, algorithm=a.alg))
