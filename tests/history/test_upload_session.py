"""The upload session a file consent opens (devtools.teams.connector.UploadSession, modelled on OneDrive's, as the
`fileConsent/invoke`'s uploadUrl is) and the bot's PUTs to it (bot.transport.upload): fragments in order with
Content-Range, no Authorization header, 202 until the last byte, then 201 and the session gone."""

from __future__ import annotations

import aiohttp

from bot.transport.upload import UploadFailed, upload
from devtools.teams.connector import running_connector

KIB = 1024


async def test_a_large_file_goes_in_320_kib_multiples_in_order() -> None:
    data = bytes(range(256)) * (3 * KIB)  # 768 KiB
    async with running_connector() as connector, aiohttp.ClientSession() as session:
        info = connector.offer_upload("big.csv")
        done = await upload(session, info["uploadUrl"], data, fragment=320 * KIB)
    assert done.status == 201
    assert connector.files["big.csv"] == data
    total = len(data)
    assert [(r, s) for _, r, s in connector.upload_puts] == [
        (f"bytes 0-{320 * KIB - 1}/{total}", 202),
        (f"bytes {320 * KIB}-{640 * KIB - 1}/{total}", 202),
        (f"bytes {640 * KIB}-{total - 1}/{total}", 201),
    ]


async def test_the_stand_in_refuses_what_onedrive_refuses() -> None:
    async with running_connector() as connector, aiohttp.ClientSession() as session:
        url = connector.offer_upload("a.csv")["uploadUrl"]

        async def put(first: int, last: int, total: int, body: bytes, **headers: str) -> int:
            sent = {"Content-Range": f"bytes {first}-{last}/{total}", **headers}
            async with session.put(url, data=body, headers=sent) as r:
                return r.status

        assert await put(0, 3, 8, b"abcd", Authorization="Bearer x") == 401  # the URL is its own authorisation
        assert await put(4, 7, 8, b"efgh") == 400  # out of order
        assert await put(0, 3, 8, b"abc") == 400  # body shorter than the range
        assert await put(0, 3, 8, b"abcd") == 202
        assert await put(0, 3, 8, b"abcd") == 416  # already received
        assert await put(4, 7, 9, b"efgh") == 400  # another total
        async with session.get(url) as r:
            assert (await r.json())["nextExpectedRanges"] == ["4-"]
        assert await put(4, 7, 8, b"efgh") == 201
        assert connector.files["a.csv"] == b"abcdefgh"
        assert await put(0, 3, 8, b"abcd") == 404  # the session is gone


async def test_a_gone_session_fails_the_upload_without_retrying() -> None:
    async with running_connector() as connector, aiohttp.ClientSession() as session:
        url = connector.offer_upload("a.csv")["uploadUrl"]
        async with session.delete(url) as r:
            assert r.status == 204
        try:
            await upload(session, url, b"x")
        except UploadFailed as e:
            assert e.status == 404
        else:
            raise AssertionError("the upload to a cancelled session succeeded")
    assert len(connector.upload_puts) == 1
