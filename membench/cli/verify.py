"""`membench verify`: does a shipped result hold on this machine? A sample of its trials is
retrained here, and the report's verdicts are recomputed with them."""

from __future__ import annotations


def add_verify(sub) -> None:
    parser = sub.add_parser(
        "verify",
        help="retrain a sample of a results folder's trials here and check them and the verdicts",
        description="Retrain N trials of RESULTS (spread over its cells, chosen reproducibly) "
        "on this machine, one after another, and say per trial whether it is identical to its "
        "record, within tolerance (the same held-out counts, loss within 1e-4) or diverged; "
        "then whether any verdict of the report would change with the retrained values. Exit 1 "
        "when one would. RESULTS is only read.",
    )
    parser.add_argument("results", metavar="RESULTS", help="a results folder, e.g. results/smoke")
    parser.add_argument("--sample", type=int, default=4, metavar="N", help="trials (default 4)")
    parser.add_argument(
        "--seed", type=int, default=0, help="which sample (default 0: the same every time)"
    )
    parser.add_argument(
        "--metric", default="exact_match", help="the report's metric (default: exact_match)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="CPU threads for torch (default 1, as in a suite)"
    )

    def handler(args) -> int:
        from pathlib import Path

        from rich.console import Console

        from membench.cli.checks import check_at_least, check_metric
        from membench.run.verify import verify

        check_at_least(args.sample, 1, "--sample")
        check_at_least(args.threads, 1, "--threads")
        check_metric(args.metric)
        import torch

        torch.set_num_threads(args.threads)
        return verify(Path(args.results), args.sample, args.seed, args.metric, Console())

    parser.set_defaults(handler=handler)
