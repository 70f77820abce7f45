"""``python -m services.conversation``: settings -> service -> API; nothing else."""

from fastapi import FastAPI

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.consumers import register
from services.conversation.settings import ConversationSettings
from shared.service import serve


def build(settings: ConversationSettings) -> FastAPI:
    service = ConversationService(settings)
    register(service)
    return create_app(service)


def main() -> None:
    settings = ConversationSettings()
    serve(build(settings), settings)


if __name__ == "__main__":
    main()
