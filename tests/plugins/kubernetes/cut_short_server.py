#!/usr/bin/env python3
"""An HTTPS server on 127.0.0.1 that cuts every answer short, as a broken proxy or a hostile
API server may: it promises a JSON body of 1000 bytes, sends 27 and closes the connection.

    cut_short_server.py CERT KEY PORT_FILE

It writes its port to PORT_FILE once it listens, prints each request line, and exits after 60 s
without a connection (the test stops it sooner)."""
import os
import socket
import ssl
import sys

ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
          b'{"kind": "Node", "metadata"')


def main():
    cert, key, port_file = sys.argv[1:4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(60)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    os.rename(port_file + ".tmp", port_file)
    while True:
        try:
            conn, _ = srv.accept()
        except socket.timeout:
            return
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
            head = tls.recv(65536)
            print(head.split(b"\r\n", 1)[0].decode("ascii", "replace"), flush=True)
            tls.sendall(ANSWER)
            tls.close()
        except (OSError, ssl.SSLError) as e:
            print("error: %s" % e, flush=True)
        finally:
            conn.close()


if __name__ == "__main__":
    main()
