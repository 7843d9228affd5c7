"""Run a dev cluster on its own: `python -m service.devcluster --port 0 --kubeconfig PATH`.

Prints exactly one line to stdout, `DEV CLUSTER READY <url>`, once it listens and the kubeconfig is
written, so a parent process can wait for it; logs go to stderr. Runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import pathlib
import signal
import sys

from service.devcluster.server import DevCluster


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service.devcluster", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on; 0 picks a free one")
    parser.add_argument("--kubeconfig", type=pathlib.Path, help="write a kubeconfig for the cluster here")
    parser.add_argument("--namespace", default="default", help="the kubeconfig context's namespace")
    parser.add_argument(
        "--history-size",
        type=int,
        default=1000,
        help="changes kept for watches to resume from; older resourceVersions get 410 Gone (default 1000)",
    )
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    cluster = DevCluster(args.host, args.port, history_size=args.history_size)
    url = await cluster.start()
    try:
        if args.kubeconfig is not None:
            cluster.write_kubeconfig(args.kubeconfig, args.namespace)
        print(f"DEV CLUSTER READY {url}", flush=True)
        await stop.wait()
    finally:
        await cluster.stop()


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s"
    )
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
