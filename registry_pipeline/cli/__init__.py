"""The ``registry`` command: a thin shell over :class:`registry_pipeline.service.Registry`.

One module per command group (``versions``, ``evals``, ``promotion``, ``production``,
``audit``, ``admin``); :mod:`._errors` is the one table that turns errors into exit codes and
next steps. Imports of the service (SQLAlchemy, pydantic) happen inside commands so that
``registry --help`` answers fast. Every known error is printed as one line on stderr with
the contract's exit code; ``--json`` makes stdout one JSON document.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence

from registry_pipeline.cli import (
    admin,
    audit,
    evals,
    events,
    identity,
    production,
    promotion,
    server,
    versions,
)
from registry_pipeline.cli._app import cli
from registry_pipeline.cli._output import fail

__all__ = ["cli", "main"]
_COMMAND_GROUPS = (admin, audit, evals, events, identity, production, promotion, server, versions)


#: Errors of a path the caller named (too long, not allowed, a file where a folder
#: belongs): bad input, not an internal fault.
_PATH_ERRORS = frozenset(
    {errno.ENAMETOOLONG, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR, errno.ELOOP}
)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI and map every known error to one line and an exit code."""
    from click.exceptions import Abort, ClickException, Exit, UsageError

    try:
        cli.main(args=argv, prog_name="registry", standalone_mode=False)
    except Exit as e:
        sys.exit(e.exit_code)
    except UsageError as e:
        command = e.ctx.command_path if e.ctx else "registry"
        fail(
            f"{e.format_message().rstrip('.')}; see `{command} --help`",
            2,
            {"error": "UsageError", "message": e.format_message()},
        )
    except ClickException as e:
        fail(e.format_message(), e.exit_code)
    except Abort:
        fail("aborted", 1)
    except KeyboardInterrupt:
        fail("interrupted; nothing was half-written (every change is one transaction)", 130)
    except Exception as e:
        from registry_pipeline.cli import _errors
        from registry_pipeline.errors import RegistryError

        if isinstance(e, RegistryError):
            fail(_errors.line(e), _errors.exit_code(e), _errors.document(e))
        if os.environ.get("REGISTRY_DEBUG"):
            raise
        if isinstance(e, OSError) and e.filename is not None and e.errno in _PATH_ERRORS:
            from registry_pipeline.inputs.documents import shown

            fail(
                f"{shown(str(e.filename), 100)}: {e.strerror}; check the path",
                2,
                {"error": "BadInput", "message": f"{e.filename}: {e.strerror}"},
            )
        fail(
            f"internal error: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
            "(set REGISTRY_DEBUG=1 for the traceback)",
            1,
            {"error": "InternalError", "message": str(e)},
        )
