#!/usr/bin/env python3
"""A real SMTP server on loopback for lagesbild's mail tests, and a reader of what it received.

    smtp_sink.py serve FOLDER   listen on 127.0.0.1 at a free port (printed as "PORT n"), write
                                each message to FOLDER/NNN.eml with its envelope in NNN.json;
                                while FOLDER/REFUSE_NEXT exists, the next message is answered
                                554 and the file removed (a server that refuses once)
    smtp_sink.py parse FILE     print the message as JSON: headers, MIME tree, parts

The server is aiosmtpd (PyPI); the parser is Python's own email package, not lagesbild's.
"""

import hashlib
import json
import os
import socket
import sys
import time


def serve(folder):
    from aiosmtpd.controller import Controller

    class Handler:
        def __init__(self):
            self.count = 0

        async def handle_DATA(self, server, session, envelope):
            refuse = os.path.join(folder, "REFUSE_NEXT")
            if os.path.exists(refuse):
                os.remove(refuse)
                return "554 5.7.1 Refused once by the test server"
            self.count += 1
            base = os.path.join(folder, "%03d" % self.count)
            with open(base + ".json", "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
            data = envelope.original_content or envelope.content
            with open(base + ".eml.partial", "wb") as f:
                f.write(data)
            # Renamed whole, so that a reader never sees half a message.
            os.rename(base + ".eml.partial", base + ".eml")
            return "250 2.0.0 OK"

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    print("PORT %d" % port, flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def parse(path):
    import email
    import email.policy
    import email.utils

    with open(path, "rb") as f:
        raw = f.read()
    message = email.message_from_bytes(raw, policy=email.policy.default)

    def tree(part):
        if part.is_multipart():
            return {"type": part.get_content_type(), "parts": [tree(p) for p in part.iter_parts()]}
        return {"type": part.get_content_type()}

    parts = []
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True) or b""
        entry = {
            "type": part.get_content_type(),
            "filename": part.get_filename(),
            "disposition": part.get_content_disposition(),
            "size": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
        }
        if part.get_content_maintype() == "text":
            entry["text"] = part.get_content()
        parts.append(entry)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    date = message["Date"]
    print(json.dumps({
        "from": str(message["From"]),
        "to": [str(a) for a in message["To"].addresses] if message["To"] else [],
        "subject": str(message["Subject"]),
        "message_id": str(message["Message-ID"]),
        "date": str(date) if date else None,
        "date_ok": bool(date) and email.utils.parsedate_to_datetime(str(date)) is not None,
        "header_names": [line.split(":", 1)[0] for line in head.split("\r\n") if line and line[0] not in " \t"],
        "tree": tree(message),
        "parts": parts,
    }))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("serve", "parse"):
        sys.exit(__doc__)
    (serve if sys.argv[1] == "serve" else parse)(sys.argv[2])
