"""What ``make up`` prints once everything answers: one line per URL, the secrets, the way out."""

from __future__ import annotations

from collections.abc import Sequence

from clfwatch.up.common import say
from clfwatch.up.prepare import Secrets
from clfwatch.up.supervise import Child

# Children whose useful address is the ready URL itself rather than the server's root.
SHOW_READY_URL = ("prober",)


def print_summary(children: Sequence[Child], keys: Secrets) -> None:
    say("everything is up:")
    for child in children:
        url = child.spec.ready_url if child.spec.name in SHOW_READY_URL else child.spec.base_url
        say(f"  {child.spec.label:<20} {url}   (log: {child.spec.log_path})")
    say(f"  admin password       {keys.admin_password}   ({keys.admin_from}; Admin page)")
    say(f"  registration code    {keys.registration_code}   ({keys.code_from}; give it to the teams)")
    say("  teams register on the dashboard's Register page or with curl (README, Self-service for teams)")
    say("press Ctrl-C to stop everything")
