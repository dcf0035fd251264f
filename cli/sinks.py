"""`make run`'s local receivers of what leaves the system: an SMTP sink (aiosmtpd) that keeps every mail as an
.eml file a newcomer can open, and a demo webhook receiver that checks each delivery's signature and keeps it as a
line of JSON. `python -m cli.sinks --dir .data --smtp-port 1025 --webhook-port 8025 --webhook-secret …`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from domain.notifications import DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook


@dataclass
class Received:
    """One mail as the sink took it: the envelope's recipients and the parsed message."""

    rcpt: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        """The decoded subject."""
        return str(self.message["Subject"])

    def body(self, subtype: str = "plain") -> str:
        """The text or HTML part."""
        part = self.message.get_body(preferencelist=(subtype,))
        return str(part.get_content()) if part is not None else ""


@dataclass
class Mailbox:
    """An aiosmtpd handler: keeps every accepted mail (and writes it to `folder` as .eml when given)."""

    folder: Path | None = None
    received: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Accept a mail."""
        raw = envelope.original_content or envelope.content or b""
        data = raw if isinstance(raw, bytes) else raw.encode()
        msg = message_from_bytes(data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.received.append(Received([str(r) for r in envelope.rcpt_tos], msg))
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
            to = re.sub(r"[^A-Za-z0-9@._-]", "_", ",".join(str(r) for r in envelope.rcpt_tos))[:80]
            (self.folder / f"{stamp}-{to}.eml").write_bytes(data)
        return "250 Message accepted for delivery"


async def start_smtp(handler: Any, host: str, port: int) -> asyncio.Server:
    """An SMTP server on the running loop (aiosmtpd's protocol), answering with `handler`."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SMTP(handler, hostname="assetflow-sink", loop=loop), host, port)


@dataclass
class WebhookLog:
    """The demo webhook receiver: checks the signature with `secret` and appends each delivery to `path`."""

    secret: str
    path: Path | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer one HTTP/1.1 request: 200 when signed right, 401 when not."""
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            _, *lines = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            ts = headers.get(TIMESTAMP_HEADER.lower(), "0")
            valid = ts.isdigit() and verify_webhook(
                self.secret, int(ts), body, headers.get(SIGNATURE_HEADER.lower(), "")
            )
            entry = {
                "received_at": datetime.now(UTC).isoformat(),
                "delivery": headers.get(DELIVERY_HEADER.lower()),
                "signature_valid": valid,
                "body": json.loads(body or b"null"),
            }
            self.seen.append(entry)
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            status = "200 OK" if valid else "401 Unauthorized"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()


async def serve(folder: Path, host: str, smtp_port: int, webhook_port: int, secret: str) -> None:
    """Run both receivers until SIGINT/SIGTERM."""
    smtp = await start_smtp(Mailbox(folder / "mail"), host, smtp_port)
    hooks = await asyncio.start_server(WebhookLog(secret, folder / "webhooks.jsonl").handle, host, webhook_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with smtp, hooks:
        await stop.wait()


def main() -> None:
    """Entry point of `python -m cli.sinks`."""
    parser = argparse.ArgumentParser(description="assetflow's local SMTP sink and demo webhook receiver")
    parser.add_argument("--dir", default=".data")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--webhook-port", type=int, default=8025)
    parser.add_argument("--webhook-secret", required=True)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Path(args.dir), args.host, args.smtp_port, args.webhook_port, args.webhook_secret))


if __name__ == "__main__":
    main()
