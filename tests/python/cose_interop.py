#!/usr/bin/env python3
"""Interop with pycose, a COSE library written by others.

  cose_interop.py verify MESSAGE PUBLIC_KEY_B64   exit 0 iff pycose verifies our event
  cose_interop.py sign MESSAGE_OUT                 sign an event with pycose; print its key
"""
import base64
import json
import sys

import cbor2
from pycose.algorithms import EdDSA
from pycose.headers import KID, Algorithm, ContentType
from pycose.keys import OKPKey
from pycose.keys.curves import Ed25519
from pycose.messages import CoseMessage, Sign1Message

CONTENT_TYPE = "application/vnd.provenance.event+cbor"


def verify(path, public_b64):
    msg = CoseMessage.decode(open(path, "rb").read())
    msg.key = OKPKey(crv=Ed25519, x=base64.b64decode(public_b64))
    try:
        ok = msg.verify_signature()
    except Exception as e:  # pycose raises on malformed signatures
        print(json.dumps({"verified": False, "error": str(e)}))
        return 1
    payload = cbor2.loads(msg.payload)
    print(json.dumps({
        "verified": bool(ok),
        "alg": str(msg.phdr.get(Algorithm)),
        "kid": msg.phdr[KID].decode(),
        "content_type": msg.phdr.get(ContentType),
        "seq": payload[2],
        "kind": payload[5],
        "items": payload[6],
    }))
    return 0 if ok else 1


def sign(out_path):
    key = OKPKey.generate_key(crv=Ed25519)
    payload = {
        1: 1,
        2: 1,
        3: bytes(32),
        4: 1763719200000,
        5: 12,  # inspected
        6: ["urn:epc:id:sscc:4012345.0000000017"],
        8: {1: 519244000, 2: 41400000},
        11: "MRN-24NL0000000000001",
    }
    msg = Sign1Message(
        phdr={Algorithm: EdDSA, ContentType: CONTENT_TYPE, KID: b"customs-rtm"},
        payload=cbor2.dumps(payload, canonical=True),
    )
    msg.key = key
    with open(out_path, "wb") as f:
        f.write(msg.encode())
    print(base64.b64encode(key.x).decode())
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "verify":
        sys.exit(verify(sys.argv[2], sys.argv[3]))
    sys.exit(sign(sys.argv[2]))
