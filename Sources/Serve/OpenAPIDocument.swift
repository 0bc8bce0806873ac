/// The OpenAPI 3.1 document of the dashboard API, served at `/openapi.json` (CONTRACT §3.2).
/// Kept beside the routes it describes; schemathesis checks the server against it.
enum OpenAPIDocument {
    static let json = #"""
{
 "openapi": "3.1.0",
 "info": {
  "title": "Wakala Stream dashboard API",
  "version": "1.0.0",
  "description": "Read-only figures of one tenant, from the pipeline's committed read models (CONTRACT §3.2). Every /v1 path needs `Authorization: Bearer <JWT>` (HS256 with WAKALA_JWT_SECRET or RS256; claims exp and tenant_id). Times leave in the tenant's timezone. Per-tenant limits per minute: basic 100, premium 1000, enterprise 10000."
 },
 "servers": [
  {
   "url": "http://127.0.0.1:8080"
  }
 ],
 "security": [
  {
   "bearer": []
  }
 ],
 "paths": {
  "/v1/dashboard": {
   "get": {
    "operationId": "dashboard",
    "summary": "Sales, time series, top products, payments, deliveries and messages over [from, to).",
    "parameters": [
     {
      "name": "from",
      "in": "query",
      "required": true,
      "description": "Start (inclusive), RFC 3339, aligned to the granularity in the tenant's timezone.",
      "schema": {
       "type": "string",
       "format": "date-time"
      }
     },
     {
      "name": "to",
      "in": "query",
      "required": true,
      "description": "End (exclusive), RFC 3339, aligned; at most 400 days after from.",
      "schema": {
       "type": "string",
       "format": "date-time"
      }
     },
     {
      "name": "granularity",
      "in": "query",
      "required": false,
      "schema": {
       "type": "string",
       "enum": [
        "hour",
        "day"
       ],
       "default": "day"
      }
     },
     {
      "name": "tenant_id",
      "in": "query",
      "required": false,
      "description": "Another tenant (role platform_admin only).",
      "schema": {
       "$ref": "#/components/schemas/Id"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Dashboard"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/orders/{order_id}": {
   "get": {
    "operationId": "order",
    "summary": "One order: state, payment status, totals, status history.",
    "parameters": [
     {
      "name": "order_id",
      "in": "path",
      "required": true,
      "schema": {
       "$ref": "#/components/schemas/Id"
      }
     },
     {
      "name": "tenant_id",
      "in": "query",
      "required": false,
      "description": "Another tenant (role platform_admin only).",
      "schema": {
       "$ref": "#/components/schemas/Id"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderDetail"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     }
    }
   }
  },
  "/v1/orders": {
   "get": {
    "operationId": "orders",
    "summary": "The tenant's orders, newest first.",
    "parameters": [
     {
      "name": "status",
      "in": "query",
      "required": false,
      "schema": {
       "type": "string",
       "enum": [
        "pending",
        "confirmed",
        "processing",
        "ready_for_pickup",
        "delivering",
        "completed",
        "cancelled"
       ]
      }
     },
     {
      "name": "page",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 100000,
       "default": 1
      }
     },
     {
      "name": "limit",
      "in": "query",
      "required": false,
      "schema": {
       "type": "integer",
       "minimum": 1,
       "maximum": 100,
       "default": 20
      }
     },
     {
      "name": "tenant_id",
      "in": "query",
      "required": false,
      "description": "Another tenant (role platform_admin only).",
      "schema": {
       "$ref": "#/components/schemas/Id"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/OrderPage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/deliveries/{delivery_id}": {
   "get": {
    "operationId": "delivery",
    "summary": "One delivery: status, last location, ETA.",
    "parameters": [
     {
      "name": "delivery_id",
      "in": "path",
      "required": true,
      "schema": {
       "$ref": "#/components/schemas/Id"
      }
     },
     {
      "name": "tenant_id",
      "in": "query",
      "required": false,
      "description": "Another tenant (role platform_admin only).",
      "schema": {
       "$ref": "#/components/schemas/Id"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Delivery"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     },
     "404": {
      "$ref": "#/components/responses/NotFound"
     }
    }
   }
  },
  "/v1/usage": {
   "get": {
    "operationId": "usage",
    "summary": "Quota usage per resource.",
    "parameters": [
     {
      "name": "tenant_id",
      "in": "query",
      "required": false,
      "description": "Another tenant (role platform_admin only).",
      "schema": {
       "$ref": "#/components/schemas/Id"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Usage"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/v1/live": {
   "get": {
    "operationId": "live",
    "summary": "Live tiles: active orders and drivers, today's revenue and average delivery time.",
    "parameters": [
     {
      "name": "tenant_id",
      "in": "query",
      "required": false,
      "description": "Another tenant (role platform_admin only).",
      "schema": {
       "$ref": "#/components/schemas/Id"
      }
     }
    ],
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "$ref": "#/components/schemas/Live"
        }
       }
      }
     },
     "400": {
      "$ref": "#/components/responses/BadRequest"
     },
     "401": {
      "$ref": "#/components/responses/Unauthorized"
     },
     "403": {
      "$ref": "#/components/responses/Forbidden"
     },
     "429": {
      "$ref": "#/components/responses/TooManyRequests"
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/healthz": {
   "get": {
    "operationId": "healthz",
    "security": [],
    "summary": "The process is up.",
    "responses": {
     "200": {
      "description": "OK",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "status"
         ],
         "properties": {
          "status": {
           "type": "string"
          }
         }
        }
       }
      }
     }
    }
   }
  },
  "/readyz": {
   "get": {
    "operationId": "readyz",
    "security": [],
    "summary": "Postgres is reachable and migrated.",
    "responses": {
     "200": {
      "description": "Ready",
      "content": {
       "application/json": {
        "schema": {
         "type": "object",
         "required": [
          "status"
         ],
         "properties": {
          "status": {
           "type": "string"
          },
          "migrations": {
           "type": "integer"
          }
         }
        }
       }
      }
     },
     "503": {
      "$ref": "#/components/responses/Unavailable"
     }
    }
   }
  },
  "/metrics": {
   "get": {
    "operationId": "metrics",
    "security": [],
    "summary": "Prometheus text format.",
    "responses": {
     "200": {
      "description": "Metrics",
      "content": {
       "text/plain": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  },
  "/openapi.json": {
   "get": {
    "operationId": "openapi",
    "security": [],
    "summary": "This document.",
    "responses": {
     "200": {
      "description": "OpenAPI 3.1",
      "content": {
       "application/json": {
        "schema": {
         "type": "object"
        }
       }
      }
     }
    }
   }
  },
  "/": {
   "get": {
    "operationId": "page",
    "security": [],
    "summary": "The web dashboard (no CDN; the token is entered on the page).",
    "responses": {
     "200": {
      "description": "HTML",
      "content": {
       "text/html": {
        "schema": {
         "type": "string"
        }
       }
      }
     }
    }
   }
  }
 },
 "components": {
  "securitySchemes": {
   "bearer": {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT"
   }
  },
  "responses": {
   "Error": {
    "description": "Error",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "BadRequest": {
    "description": "Bad parameters",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "Unauthorized": {
    "description": "Missing, malformed, badly signed or expired token",
    "headers": {
     "WWW-Authenticate": {
      "schema": {
       "type": "string"
      }
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "Forbidden": {
    "description": "Another tenant's data",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "NotFound": {
    "description": "No such record for this tenant",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "TooManyRequests": {
    "description": "Over the tenant's rate limit",
    "headers": {
     "Retry-After": {
      "schema": {
       "type": "integer"
      },
      "description": "Seconds"
     }
    },
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   },
   "Unavailable": {
    "description": "The read models cannot be reached",
    "content": {
     "application/json": {
      "schema": {
       "$ref": "#/components/schemas/Error"
      }
     }
    }
   }
  },
  "schemas": {
   "Id": {
    "type": "string",
    "pattern": "^[A-Za-z0-9_.:-]{1,128}$"
   },
   "Error": {
    "type": "object",
    "required": [
     "error"
    ],
    "properties": {
     "error": {
      "type": "object",
      "required": [
       "code",
       "message"
      ],
      "properties": {
       "code": {
        "type": "string"
       },
       "message": {
        "type": "string"
       }
      }
     }
    }
   },
   "Dashboard": {
    "type": "object",
    "required": [
     "tenant_id",
     "from",
     "to",
     "granularity",
     "sales",
     "time_series",
     "top_products",
     "payments",
     "deliveries",
     "messages"
    ],
    "properties": {
     "tenant_id": {
      "type": "string"
     },
     "from": {
      "type": "string",
      "format": "date-time"
     },
     "to": {
      "type": "string",
      "format": "date-time"
     },
     "granularity": {
      "type": "string",
      "enum": [
       "hour",
       "day"
      ]
     },
     "sales": {
      "type": "object",
      "required": [
       "orders",
       "gross_revenue_cents",
       "net_revenue_cents",
       "avg_order_value_cents",
       "unique_customers",
       "new_customers",
       "items_sold",
       "completed_orders",
       "cancelled_orders",
       "completion_rate",
       "avg_fulfillment_seconds",
       "growth"
      ],
      "properties": {
       "orders": {
        "type": "integer"
       },
       "gross_revenue_cents": {
        "type": "integer"
       },
       "net_revenue_cents": {
        "type": "integer"
       },
       "avg_order_value_cents": {
        "type": [
         "integer",
         "null"
        ]
       },
       "unique_customers": {
        "type": "integer"
       },
       "new_customers": {
        "type": "integer"
       },
       "items_sold": {
        "type": "integer"
       },
       "completed_orders": {
        "type": "integer"
       },
       "cancelled_orders": {
        "type": "integer"
       },
       "completion_rate": {
        "type": [
         "number",
         "null"
        ]
       },
       "avg_fulfillment_seconds": {
        "type": [
         "number",
         "null"
        ]
       },
       "growth": {
        "type": "object",
        "required": [
         "orders",
         "revenue",
         "customers"
        ],
        "properties": {
         "orders": {
          "type": [
           "number",
           "null"
          ]
         },
         "revenue": {
          "type": [
           "number",
           "null"
          ]
         },
         "customers": {
          "type": [
           "number",
           "null"
          ]
         }
        }
       }
      }
     },
     "time_series": {
      "type": "array",
      "items": {
       "type": "object",
       "required": [
        "bucket_start",
        "orders",
        "gross_revenue_cents"
       ],
       "properties": {
        "bucket_start": {
         "type": "string",
         "format": "date-time"
        },
        "orders": {
         "type": "integer"
        },
        "gross_revenue_cents": {
         "type": "integer"
        }
       }
      }
     },
     "top_products": {
      "type": "array",
      "maxItems": 10,
      "items": {
       "type": "object",
       "required": [
        "product_id",
        "name",
        "orders",
        "quantity",
        "revenue_cents"
       ],
       "properties": {
        "product_id": {
         "type": "string"
        },
        "name": {
         "type": [
          "string",
          "null"
         ]
        },
        "orders": {
         "type": "integer"
        },
        "quantity": {
         "type": "integer"
        },
        "revenue_cents": {
         "type": "integer"
        }
       }
      }
     },
     "payments": {
      "type": "array",
      "items": {
       "type": "object",
       "required": [
        "gateway",
        "method",
        "initiated",
        "succeeded",
        "failed",
        "success_rate",
        "succeeded_amount_cents"
       ],
       "properties": {
        "gateway": {
         "type": "string"
        },
        "method": {
         "type": "string"
        },
        "initiated": {
         "type": "integer"
        },
        "succeeded": {
         "type": "integer"
        },
        "failed": {
         "type": "integer"
        },
        "success_rate": {
         "type": [
          "number",
          "null"
         ]
        },
        "succeeded_amount_cents": {
         "type": "integer"
        }
       }
      }
     },
     "deliveries": {
      "type": "object",
      "required": [
       "completed",
       "avg_delivery_seconds"
      ],
      "properties": {
       "completed": {
        "type": "integer"
       },
       "avg_delivery_seconds": {
        "type": [
         "number",
         "null"
        ]
       }
      }
     },
     "messages": {
      "type": "object",
      "additionalProperties": {
       "type": "integer"
      }
     }
    }
   },
   "Order": {
    "type": "object",
    "required": [
     "order_id",
     "status",
     "total_cents"
    ],
    "properties": {
     "order_id": {
      "type": "string"
     },
     "status": {
      "type": "string"
     },
     "payment_status": {
      "type": [
       "string",
       "null"
      ]
     },
     "payment_method": {
      "type": [
       "string",
       "null"
      ]
     },
     "customer_id": {
      "type": [
       "string",
       "null"
      ]
     },
     "vendor_id": {
      "type": [
       "string",
       "null"
      ]
     },
     "delivery_id": {
      "type": [
       "string",
       "null"
      ]
     },
     "total_cents": {
      "type": "integer"
     },
     "created_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     },
     "updated_at": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     }
    }
   },
   "OrderDetail": {
    "allOf": [
     {
      "$ref": "#/components/schemas/Order"
     },
     {
      "type": "object",
      "required": [
       "tenant_id",
       "history",
       "rejected_transitions"
      ],
      "properties": {
       "tenant_id": {
        "type": "string"
       },
       "history": {
        "type": "array",
        "items": {
         "type": "object",
         "required": [
          "seq",
          "to",
          "event_id",
          "at"
         ],
         "properties": {
          "seq": {
           "type": "integer"
          },
          "from": {
           "type": [
            "string",
            "null"
           ]
          },
          "to": {
           "type": "string"
          },
          "event_id": {
           "type": "string"
          },
          "at": {
           "type": "string",
           "format": "date-time"
          }
         }
        }
       },
       "rejected_transitions": {
        "type": "array",
        "items": {
         "type": "object",
         "properties": {
          "event_type": {
           "type": "string"
          },
          "state": {
           "type": [
            "string",
            "null"
           ]
          },
          "reason": {
           "type": "string"
          },
          "event_id": {
           "type": "string"
          },
          "at": {
           "type": "string",
           "format": "date-time"
          }
         }
        }
       }
      }
     }
    ]
   },
   "OrderPage": {
    "type": "object",
    "required": [
     "tenant_id",
     "page",
     "limit",
     "total",
     "orders"
    ],
    "properties": {
     "tenant_id": {
      "type": "string"
     },
     "status": {
      "type": [
       "string",
       "null"
      ]
     },
     "page": {
      "type": "integer"
     },
     "limit": {
      "type": "integer"
     },
     "total": {
      "type": "integer"
     },
     "orders": {
      "type": "array",
      "items": {
       "$ref": "#/components/schemas/Order"
      }
     }
    }
   },
   "Delivery": {
    "type": "object",
    "required": [
     "tenant_id",
     "delivery_id",
     "status"
    ],
    "properties": {
     "tenant_id": {
      "type": "string"
     },
     "delivery_id": {
      "type": "string"
     },
     "order_id": {
      "type": [
       "string",
       "null"
      ]
     },
     "driver_id": {
      "type": [
       "string",
       "null"
      ]
     },
     "status": {
      "type": "string"
     },
     "eta": {
      "type": [
       "string",
       "null"
      ],
      "format": "date-time"
     },
     "last_location": {
      "type": [
       "object",
       "null"
      ],
      "properties": {
       "lat": {
        "type": "number"
       },
       "lng": {
        "type": "number"
       }
      }
     }
    }
   },
   "Usage": {
    "type": "object",
    "required": [
     "tenant_id",
     "tier",
     "resources"
    ],
    "properties": {
     "tenant_id": {
      "type": "string"
     },
     "tier": {
      "type": "string"
     },
     "resources": {
      "type": "array",
      "items": {
       "type": "object",
       "required": [
        "resource",
        "used",
        "limit",
        "status"
       ],
       "properties": {
        "resource": {
         "type": "string"
        },
        "used": {
         "type": [
          "number",
          "null"
         ]
        },
        "limit": {
         "type": [
          "integer",
          "null"
         ]
        },
        "status": {
         "type": "string"
        }
       }
      }
     }
    }
   },
   "Live": {
    "type": "object",
    "required": [
     "tenant_id",
     "as_of",
     "active_orders",
     "revenue_today_cents",
     "active_drivers",
     "avg_delivery_seconds_today"
    ],
    "properties": {
     "tenant_id": {
      "type": "string"
     },
     "as_of": {
      "type": "string",
      "format": "date-time"
     },
     "day_start": {
      "type": "string",
      "format": "date-time"
     },
     "active_orders": {
      "type": "integer"
     },
     "revenue_today_cents": {
      "type": "integer"
     },
     "active_drivers": {
      "type": "integer"
     },
     "avg_delivery_seconds_today": {
      "type": [
       "number",
       "null"
      ]
     }
    }
   }
  }
 }
}
"""#
}
