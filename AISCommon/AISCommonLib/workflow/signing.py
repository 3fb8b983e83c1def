"""A manager's signature on the audit trail's head, with a key kept off the workstation (Ed25519).

The anchor file catches a rewrite of the database; someone who can write both the database and the anchor file
could still rewrite both. A head signed with a private key that never sits beside the data closes that: the
rewritten chain cannot carry the manager's signature. Uses the ``cryptography`` package (optional extra
``signing``); nothing else of the workflow needs it.
"""

import base64
import json
from pathlib import Path

from ..core.atomicio import writeTextAtomic
from ..core.errors import InputError
from . import chain, schema


def _cryptography():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise InputError("Signing the audit trail needs the cryptography package: pip install 'ais-annotation[signing]'.") from None
    return serialization, ed25519, InvalidSignature


def generateKeyPair(privatePath, publicPath) -> str:
    """Write a new Ed25519 key pair (private key PEM with 0600 permissions); :return: the key's short id.

    :raises OutputExistsError: either file exists (a key is never overwritten).
    """
    serialization, ed25519, _ = _cryptography()
    key = ed25519.Ed25519PrivateKey.generate()
    privatePem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    publicPem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    writeTextAtomic(privatePath, privatePem, overwrite=False, mode=0o600)
    writeTextAtomic(publicPath, publicPem, overwrite=False)
    return keyId(publicPem)


def keyId(publicPem: str) -> str:
    """A short fingerprint of a public key (first 16 hex digits of SHA-256 of its PEM)."""
    import hashlib

    return hashlib.sha256(publicPem.strip().encode()).hexdigest()[:16]


def _message(head: dict) -> bytes:
    return chain.canonical({"event": int(head["event"]), "hash": head["hash"]}).encode()


def signHead(datasetRoot, head: dict, privateKeyPath) -> dict:
    """Sign the chain head and append the signature to the anchor file.

    :param head: ``{"event", "hash"}`` of the chain as verified now.
    :return: the anchor entry written.
    :raises InputError: no usable private key.
    """
    serialization, ed25519, _ = _cryptography()
    try:
        key = serialization.load_pem_private_key(Path(privateKeyPath).read_bytes(), password=None)
    except (OSError, ValueError) as error:
        raise InputError(f"The private key '{privateKeyPath}' cannot be read ({error}).") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise InputError(f"The key '{privateKeyPath}' is not an Ed25519 private key; make one with 'ais workflow keygen'.")
    publicPem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    entry = {"event": int(head["event"]), "hash": head["hash"], "at": schema.utcNow(), "key": keyId(publicPem),
             "signature": base64.b64encode(key.sign(_message(head))).decode()}
    path = chain.anchorPath(datasetRoot)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry


def checkSignatures(anchors: list[dict] | None, publicKeyPath) -> list[chain.ChainProblem]:
    """Check every signed anchor entry against the public key; an absent or forged signature is a problem.

    :raises InputError: no usable public key.
    """
    serialization, ed25519, InvalidSignature = _cryptography()
    try:
        publicPem = Path(publicKeyPath).read_text(encoding="utf-8")
        key = serialization.load_pem_public_key(publicPem.encode())
    except (OSError, ValueError) as error:
        raise InputError(f"The public key '{publicKeyPath}' cannot be read ({error}).") from None
    signed = [entry for entry in anchors or [] if "signature" in entry and entry.get("key") == keyId(publicPem)]
    if not signed:
        return [chain.ChainProblem(None, "unsigned", "No anchor entry carries a signature of this key: the trail was never signed with it.")]
    problems = []
    for entry in signed:
        try:
            key.verify(base64.b64decode(entry["signature"]), _message(entry))
        except (InvalidSignature, ValueError):
            problems.append(chain.ChainProblem(int(entry["event"]), "bad-signature",
                                               f"The signature on event {entry['event']} in the anchor file is not the key's: the file was altered."))
    return problems
