"""`mskdiff models`: the models `mskdiff.models.registry.load` builds, with their sizes."""

from ..models import registry

#: Columns of the table: (header, `describe` key).
COLUMNS = (("model", "name"), ("muscles", "muscles"), ("dof", "dof"), ("source", "source"))


def format_table(rows: list[dict]) -> str:
    """`rows` (`registry.describe` results) as aligned text columns."""
    cells = [[h for h, _ in COLUMNS]] + [[str(r[k]) for _, k in COLUMNS] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
                     for row in cells)


def run(args) -> int:
    """Print one line per model (each model's host model is compiled, about 1 s each)."""
    names = args.model or registry.MODELS
    print(format_table([registry.describe(name) for name in names]))
    return 0


def add_parser(commands) -> None:
    """Add this command's subparser to `commands`."""
    models = commands.add_parser(
        "models", help="list the built-in models (name, muscles, degrees of freedom, source)",
        description="List the models of myo-sim's registry that `mskdiff.models.registry.load` "
                    "builds as plants: muscles, degrees of freedom (nv) and where the skeleton "
                    "and muscle parameters come from.")
    models.add_argument("model", nargs="*",
                        help=f"models to list (default: all of {', '.join(registry.MODELS)})")
    models.set_defaults(run=run)
