"""HTTP/2: a fan-out multiplexes every request over one TCP connection."""

from __future__ import annotations

import asyncio
import json

import h2.config
import h2.connection
import h2.events
import httpx

from voicenter_async import VoicenterSession

BODY = json.dumps(
    {"ERR": 0, "DESC": "OK", "EXTENSIONS": [{"SIP": "1", "Name": "אורי"}]},
    ensure_ascii=False,
).encode()


class H2Server:
    """A GetExtensions stand-in that speaks HTTP/2 without TLS (h2c)."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]

        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> H2Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        config = h2.config.H2Configuration(client_side=False)
        connection = h2.connection.H2Connection(config=config)
        connection.initiate_connection()
        writer.write(connection.data_to_send())
        try:
            while data := await reader.read(65535):
                for event in connection.receive_data(data):
                    self._handle(connection, event)
                writer.write(connection.data_to_send())
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _handle(self, connection: h2.connection.H2Connection, event: object) -> None:
        if isinstance(event, h2.events.DataReceived):
            connection.acknowledge_received_data(
                event.flow_controlled_length, event.stream_id
            )
        elif isinstance(event, h2.events.StreamEnded):
            self.requests += 1
            headers = [
                (":status", "200"),
                ("content-type", "application/json"),
                ("content-length", str(len(BODY))),
            ]
            connection.send_headers(event.stream_id, headers)
            connection.send_data(event.stream_id, BODY, end_stream=True)


async def test_fan_out_uses_one_connection():
    """30 codes, 10 at a time, ride one multiplexed HTTP/2 connection."""
    async with H2Server() as server:
        client = httpx.AsyncClient(base_url=server.base_url, http1=False, http2=True)
        async with client, VoicenterSession(http_client=client) as session:
            roster = await session.fetch_departments(
                [f"H2code{n:06d}" for n in range(30)], concurrency=10
            )

    assert roster.ok
    assert 30 == server.requests
    assert 1 == server.connections
    assert "אורי" == roster.extensions[0].name
