"""The commands that look before a job runs: voices (what can read it) and doctor (whether it can run)."""
from __future__ import annotations

import argparse
import json

from ttvd import config, options


def voices(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd import voices

    found = voices.catalogue(settings)
    if args.json:
        print(json.dumps(voices.listing(found), indent=2, ensure_ascii=False))
        return 0
    print(f"{'id':<24} {'language':<16} {'backend':<7} {'works':<8} name")
    for voice in found:
        print(f"{voice.id:<24} {voice.language:<16} {voice.backend:<7} "
              f"{'offline' if voice.offline else 'online':<8} {voice.name}")
    return 0


def doctor(args: argparse.Namespace, settings: config.Settings) -> int:
    from ttvd.backends.doctor import run_checks

    checks = run_checks(settings)
    for check in checks:
        print(f"{check.stage:<9} {check.backend:<9} {check.verdict:<7} {check.reason}; {check.detail}")
    print("job option defaults (a job's options override them; --option KEY=VALUE on the command line):")
    for name in (*options.LOOK_OPTIONS, *options.RENDER_OPTIONS):
        setting = config.describe(f"TTVD_{name.upper()}")
        print(f"  {name:<17} {getattr(settings, name)!s:<10} from {setting.name}")
    failed = sum(not check.ok for check in checks)
    warned = sum(check.ok and check.warning for check in checks)
    print(f"{failed} problem(s) and {warned} warning(s): see the FAILED and warn lines above"
          if failed or warned else "every check passed")
    return 1 if failed else 0
