"""The ``ais`` command: one parser for every command, and clean error exits.

Every failure a user can cause ends in one sentence on stderr and a non-zero exit status,
never a traceback.
"""

import argparse
import logging
import sys

from .. import __version__
from ..core.errors import AISError, OperationCancelled
from .clinical import addClinicalCommand
from .compare import addCompareCommand
from .demo import addDemoCommand
from .importdicom import addImportCommand
from .output import configureProgress, finishProgress
from .quality import addQualityCommand
from .report import addReportCommand
from .reviewsnapshot import addReviewSnapshotCommand
from .scanqc import addScanQcCommand
from .seed import addSeedCommand
from .snapshot import addSnapshotCommand
from .validate import addValidateCommand
from .workflow import addWorkflowCommand

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
QUIET_HELP = "show no progress and no informational notes on stderr (warnings and errors still show)"


def buildParser() -> argparse.ArgumentParser:
    """The full ``ais`` parser; each command stores its handler in ``handler``."""
    parser = argparse.ArgumentParser(
        prog="ais",
        description="Dual-reader annotation of acute ischemic stroke lesions on MRI, headless and in batch.",
    )
    parser.add_argument("--version", action="version", version=f"ais {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    addValidateCommand(subparsers)
    addScanQcCommand(subparsers)
    addQualityCommand(subparsers)
    addClinicalCommand(subparsers)
    addSeedCommand(subparsers)
    addImportCommand(subparsers)
    addCompareCommand(subparsers)
    addWorkflowCommand(subparsers)
    addSnapshotCommand(subparsers)
    addReviewSnapshotCommand(subparsers)
    addReportCommand(subparsers)
    addDemoCommand(subparsers)
    _acceptQuietEverywhere(parser)
    return parser


def _acceptQuietEverywhere(parser: argparse.ArgumentParser) -> None:
    """Let ``--quiet`` follow any (sub)command as well: ``ais seed ... --quiet`` means ``ais --quiet seed ...``.

    SUPPRESS keeps a subcommand that was not given ``--quiet`` from resetting one given before it.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                if "--quiet" not in subparser._option_string_actions:
                    subparser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)
                _acceptQuietEverywhere(subparser)


def _commandLabel(args) -> str:
    """``ais seed``, ``ais workflow verify``, ``ais workflow training report``: what progress lines start with."""
    words = [getattr(args, name, None) for name in ("command", "workflowCommand", "trainingCommand")]
    return " ".join(["ais", *(word for word in words if word)])


def main(argv=None) -> int:
    """Run one ``ais`` command; returns the process exit status."""
    args = buildParser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    configureProgress(quiet=args.quiet, label=_commandLabel(args), verbose=args.verbose)
    try:
        return args.handler(args) or 0
    except OperationCancelled:
        finishProgress()
        print("ais: cancelled; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        finishProgress()
        print("ais: interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except AISError as error:
        finishProgress()
        print(f"ais: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        finishProgress()


if __name__ == "__main__":
    sys.exit(main())
