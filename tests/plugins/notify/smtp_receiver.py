#!/usr/bin/python3
"""A real SMTP server for the notify tests: Debian's python3-aiosmtpd on 127.0.0.1.

Modes: plain (no TLS), starttls (STARTTLS required before MAIL), smtps (implicit TLS). For
the TLS modes a throw-away self-signed certificate for 127.0.0.1 is made with openssl in
--dir; its path is written to the port file with the port: {"port": N, "cert": "..."}.
With --user/--password, AUTH is required (PLAIN/LOGIN, after TLS in starttls mode).

Every accepted message is appended as one JSON line to --dir/messages.jsonl: envelope,
whether TLS and AUTH were used, the raw text, the headers as sent, the decoded Subject and
every leaf MIME part (type, charset, transfer encoding, decoded content with LF endings).

Failure injection: --fail-data N answers the first N DATA commands with 451 (transient);
--reject ADDR answers RCPT TO:<ADDR> with 550 (permanent). Stopped by SIGTERM.
"""
import argparse
import asyncio
import email.utils
import json
import logging
import os
import ssl
import subprocess
import warnings
from email import message_from_bytes, policy

from aiosmtpd.smtp import SMTP, AuthResult


def make_cert(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


class Handler:
    def __init__(self, record_path, fail_data, reject):
        self.record_path = record_path
        self.fail_data = fail_data
        self.reject = reject

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.reject:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.fail_data > 0:
            self.fail_data -= 1
            return "451 4.3.0 try again later"
        raw = envelope.original_content or envelope.content
        msg = message_from_bytes(raw, policy=policy.default)
        parts = []
        for part in msg.walk():
            entry = {"content_type": part.get_content_type(),
                     "charset": part.get_content_charset(),
                     "transfer_encoding": part.get("Content-Transfer-Encoding")}
            if not part.is_multipart():
                entry["content"] = part.get_content().replace("\r\n", "\n")
            parts.append(entry)
        date_ok = False
        try:
            date_ok = email.utils.parsedate_to_datetime(msg["Date"]) is not None
        except (TypeError, ValueError):
            pass
        login = None
        if session.auth_data is not None and hasattr(session.auth_data, "login"):
            login = session.auth_data.login.decode()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": (session.ssl is not None or
                    server.transport.get_extra_info("ssl_object") is not None),
            "auth_login": login,
            "raw": raw.decode("utf-8", "replace"),
            "headers": [[k, v] for k, v in message_from_bytes(raw, policy=policy.compat32).items()],
            "subject": str(msg["Subject"]),
            "date_ok": date_ok,
            "parts": parts,
        }
        with open(self.record_path, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


async def serve(args):
    cert = key = None
    ctx = None
    if args.mode != "plain":
        cert, key = make_cert(args.dir)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (auth_data.login.decode() == args.user and
              auth_data.password.decode() == args.password)
        return AuthResult(success=ok, auth_data=auth_data if ok else None)

    handler = Handler(os.path.join(args.dir, "messages.jsonl"), args.fail_data, args.reject)

    def factory():
        kw = {"hostname": "localhost", "ident": "salve-test-smtp"}
        if args.user:
            kw.update(authenticator=authenticate, auth_required=True,
                      auth_require_tls=(args.mode == "starttls"))
        if args.mode == "starttls":
            kw.update(tls_context=ctx, require_starttls=True)
        return SMTP(handler, **kw)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0,
                                      ssl=ctx if args.mode == "smtps" else None)
    info = {"port": server.sockets[0].getsockname()[1], "cert": cert}
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, args.port_file)
    await server.serve_forever()


def main():
    # aiosmtpd's deprecation and configuration notes are not test output
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)  # TLS refusals are expected
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--mode", choices=["plain", "starttls", "smtps"], default="plain")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--fail-data", type=int, default=0)
    ap.add_argument("--reject")
    asyncio.run(serve(ap.parse_args()))


if __name__ == "__main__":
    main()
