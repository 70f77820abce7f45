"""``python -m services.conversation``: settings -> service -> API; nothing else."""

from services.conversation.api import create_app
from services.conversation.bootstrap import ConversationService
from services.conversation.consumers import register
from services.conversation.settings import ConversationSettings
from shared.service import serve


def main() -> None:
    settings = ConversationSettings()
    service = ConversationService(settings)
    register(service)
    serve(create_app(service), settings)


if __name__ == "__main__":
    main()
