"""What every tool does with a user's mistake: an :class:`~mmkd.errors.MMKDError` ends the run
with its message (which names the key, file or tensor) on stderr and exit code 2, not a
traceback. ``--debug`` on the command line, or ``MMKD_DEBUG=1``, keeps the traceback."""
import os
import sys
from typing import Any, Callable

from mmkd.errors import MMKDError

EXIT_USER_ERROR = 2


def run_tool(main: Callable[[], Any]) -> Any:
    """Call ``main()`` (which parses ``sys.argv`` itself; ``--debug`` is taken out first)."""
    debug = os.environ.get('MMKD_DEBUG', '') not in ('', '0')
    if '--debug' in sys.argv[1:]:
        sys.argv.remove('--debug')
        debug = True
    try:
        return main()
    except (MMKDError, KeyError) as err:
        # MMEngine's registries say "X is not in the <scope>::<kind> registry" for an unknown
        # type in a config: a user's mistake too
        if debug or not (isinstance(err, MMKDError) or 'registry' in str(err)):
            raise
        name = os.path.basename(sys.argv[0]) if sys.argv else 'mmkd'
        message = str(err) if isinstance(err, MMKDError) else str(err.args[0])
        print(f'{name}: error: {message}', file=sys.stderr)
        print('(run with --debug or MMKD_DEBUG=1 for the traceback)', file=sys.stderr)
        sys.exit(EXIT_USER_ERROR)
