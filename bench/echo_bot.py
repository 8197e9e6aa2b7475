"""The stock botbuilder path, for comparison: CloudAdapter + ConfigurationBotFrameworkAuthentication + ActivityHandler,
served with `adapter.process(req, bot)` exactly as the botbuilder samples do (anonymous: empty app id, MultiTenant).

`python -m bench.echo_bot --port N`. botbuilder 4.17.1 builds an msrest ConnectorClient per turn and sends the reply
through it; that is the point of the comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from botbuilder.core import ActivityHandler, MessageFactory, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from bench import serve


@dataclass(frozen=True)
class Config:
    APP_ID: str = ""
    APP_PASSWORD: str = ""
    APP_TYPE: str = "MultiTenant"
    APP_TENANTID: str = ""


class EchoBot(ActivityHandler):  # type: ignore[misc]
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        text = turn_context.activity.text
        await turn_context.send_activity(MessageFactory.text(f"echo: {text}"))


def create_app() -> web.Application:
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(Config()))
    bot = EchoBot()

    async def messages(request: web.Request) -> web.Response:
        response: web.Response = await adapter.process(request, bot)
        return response

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    return app


if __name__ == "__main__":
    serve(create_app(), "stock botbuilder CloudAdapter echo bot")
