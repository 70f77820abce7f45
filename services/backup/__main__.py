"""``python -m services.backup backup|list|restore|prune``: the operator's backup command.

    backup [--due] [--reason TEXT]   back up every database and the blob store's files to
                                     BACKUP_DIR (then prune);
                                     --due: only when none is newer than BACKUP_INTERVAL_DAYS
    list                             the complete backups, oldest first
    restore [--backup ID]            the latest (or the named) backup, services stopped
    prune                            delete the backups past BACKUP_RETENTION_DAYS

Settings: ``BACKUP_DIR``, ``BACKUP_RETENTION_DAYS``, ``BACKUP_INTERVAL_DAYS``, ``PG_BIN_DIR``,
``<SERVICE>_DATABASE_URL`` (empty: the SQLite files under ``DATA_DIR``), ``BACKUP_BLOBS``
and the services' ``BLOB_*`` (the blob store).
"""

from __future__ import annotations

import argparse
import sys

from services.backup import archive
from services.backup.settings import BackupSettings
from shared.observability import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.backup", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("backup", help="back up every service's database")
    make.add_argument("--due", action="store_true", help="only when the newest is too old")
    make.add_argument("--reason", default="", help="recorded in the manifest (e.g. onboarding)")
    commands.add_parser("list", help="the complete backups")
    back = commands.add_parser("restore", help="restore the latest or a named backup")
    back.add_argument("--backup", default=None, help="a backup id (default: the latest)")
    commands.add_parser("prune", help="delete backups past the retention")
    args = parser.parse_args(argv)

    settings = BackupSettings()
    configure_logging("backup", settings.log_level)
    try:
        if args.command == "backup":
            if args.due and not archive.due(settings):
                print("backup not due: the newest is recent enough")
                return 0
            made = archive.backup(settings, reason=args.reason)
            print(f"{made.id}\t{', '.join(made.services)}\t{made.bytes} bytes\t{made.path}")
        elif args.command == "list":
            for item in archive.list_backups(settings):
                print(
                    f"{item.id}\t{item.created_at.isoformat()}\t{', '.join(item.services)}"
                    f"\t{item.bytes} bytes\t{item.manifest.get('reason', '')}"
                )
        elif args.command == "restore":
            done = archive.restore(settings, args.backup)
            print(
                f"restored {done.id} ({', '.join(done.services)}, {len(done.blob_files)} files);"
                " now run `python -m services.conversation.erasure_cli reapply`,"
                " then start the services"
            )
        else:
            for deleted in archive.prune(settings):
                print(f"deleted {deleted}")
    except archive.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
