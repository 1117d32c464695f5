"""A user-space TCP relay: ``python -m snu_assets_tests.distributed.relay LISTEN=TARGET ...``
with ``LISTEN`` and ``TARGET`` as ``host:port``.

Why a relay and not iptables DNAT: the machine's RabbitMQ and PostgreSQL listen on
127.0.0.1 only. DNAT to a loopback address needs ``route_localnet=1`` (a host-wide
weakening of the martian-address check on a shared machine) and the servers would then see
the namespace's address as the client: RabbitMQ refuses ``guest`` from anywhere but
loopback and PostgreSQL's ``pg_hba`` trusts 127.0.0.1 only. The relay binds the bridge
address only, the servers see a loopback client, and stopping it is killing one pid. A
client that disappears (a worker killed mid-step) closes its upstream connection, so the
server aborts its transaction or requeues its unacknowledged message at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _handler(target_host: str, target_port: int):
    async def handle(reader, writer):
        try:
            up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    return handle


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


async def main(pairs: list[str]) -> None:
    servers = []
    for pair in pairs:
        listen, target = pair.split("=")
        host, port = _split(listen)
        servers.append(
            await asyncio.start_server(_handler(*_split(target)), host, port, reuse_address=True)
        )
    print("relay ready", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
