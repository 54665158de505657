"""``dui dmp-sandbox``: the DMP sandbox (XDS.b SOAP + PDSm FHIR) on loopback; see :mod:`.sandbox`."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any


def cmd_dmp_sandbox(args: argparse.Namespace) -> int:
    from fhirserver.integrations.dmp.sandbox import Server, open_sandbox
    from fhirserver.settings import SettingsError, load_settings

    try:
        settings = load_settings()  # DUI_CDA_KIT_DIR / DUI_CDA_CACHE_DIR override the [cda] settings
    except SettingsError as exc:
        print(f"dmp-sandbox: {exc}", file=sys.stderr)
        return 2
    kit = args.kit_dir if args.kit_dir is not None else settings.cda.kit_dir
    cache = settings.cda.cache_dir
    if kit and not os.path.isdir(kit):
        print(f"dmp-sandbox: the CDA kit directory does not exist: {kit}", file=sys.stderr)
        return 2
    try:
        sandbox = open_sandbox(args.store, kit, cache, tuple(args.trust_cert or ()))
        server = Server(sandbox, args.host, args.port)
    except ValueError as exc:
        print(f"dmp-sandbox: --trust-cert: not a PEM certificate ({exc})", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"dmp-sandbox: cannot start on {args.host}:{args.port} with store {args.store}: {exc}",
              file=sys.stderr)
        return 2
    for assignment in args.dmp_state or []:
        ins, _, state = assignment.partition("=")
        try:
            sandbox.store.set_dmp_state(ins.strip(), state.strip())
        except ValueError as exc:
            print(f"dmp-sandbox: --dmp-state {assignment}: {exc}", file=sys.stderr)
            return 2
    if sandbox.validator is None:
        print("dmp-sandbox: no CDA kit configured: documents are only checked for well-formedness",
              file=sys.stderr)
    print(f"DMP sandbox on {server.url} (SOAP {server.url}/soap, PDSm {server.url}/fhir, store {args.store})",
          flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def register(sub: Any) -> None:
    """Add this package's sub-commands to the ``dui`` parser's sub-parsers."""
    p = sub.add_parser("dmp-sandbox", help="run the DMP sandbox (ITI-41/18/43/57, TD0.2, PDSm) on loopback")
    p.add_argument("--port", type=int, required=True, help="TCP port (0: a free one)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--store", default="var/dmp-sandbox.sqlite3", help="SQLite file keeping the documents")
    p.add_argument("--kit-dir", default=None,
                   help="ANS CDA kit (testcontenucda) used to validate documents (default: DUI_CDA_KIT_DIR or "
                        "the [cda] kit_dir setting)")
    p.add_argument("--dmp-state", action="append", metavar="INS=STATE",
                   help="TD0.2 state of a usager's DMP: active, closed or absent (repeatable; default active)")
    p.add_argument("--trust-cert", action="append", metavar="PEM",
                   help="accept VIHF assertions signed with this certificate only (repeatable; default: any, "
                        "the self-signed one included)")
    p.set_defaults(func=cmd_dmp_sandbox)
