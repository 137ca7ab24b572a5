"""The ``--halo`` grammar as data: the table of terms (:data:`TERMS`), :class:`HaloPolicy`, and the parsers.

The grammar is described once, in the docstring of :mod:`gnnpart.comm.policy`. This module imports neither torch
nor the families' classes (those are built by :mod:`gnnpart.comm.policy.families` when an exchange starts), so a
spec is parsed where the program starts, the command line's launcher included, and policy objects travel from
there.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Callable



@dataclass(frozen=True)
class Arg:
    """One argument of a term: the :class:`HaloPolicy` field it sets, its placeholder, type and rule."""

    field: str
    placeholder: str
    kind: type
    rule: str
    ok: Callable[[float], bool]
    optional: bool = False

    def check(self, value, where: str) -> None:
        """Refuse ``value`` (raise ``ValueError`` naming ``where``, the field, the rule and the value) unless it is
        a number of the right kind that follows the rule."""
        numeric = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, numeric) or not self.ok(value):
            raise ValueError(f"{where}: `{self.field}` must be {self.rule} (got {value!r})")

    def parse(self, term: str, text: str):
        """The value of ``text``, the argument as written in ``term`` (a ``ValueError`` names both if it is bad)."""
        try:
            value = self.kind(text)
        except ValueError:
            value = None
        if value is None or not self.ok(value):
            raise ValueError(f"halo spec `{term}`: the argument must be {self.rule} (got '{text}')")
        return value


@dataclass(frozen=True)
class Term:
    """One entry of the term table.

    Attributes:
        name (str): the term as written in a spec.
        family (str): ``rows``, ``encoding``, ``channels`` or ``stale``; a policy has at most one term of each.
        args (tuple[Arg]): its arguments (the first sets the field that makes the term active).
        field (str, optional): for a term without arguments, the field set to its name (``encoding="int8"``).
        excludes (tuple): ``(term, reason)`` pairs of terms it does not compose with.
        in_evaluation (bool): the term also applies when the model evaluates (else evaluation is exact).
    """

    name: str
    family: str
    args: tuple = ()
    field: str | None = None
    excludes: tuple = ()
    in_evaluation: bool = False

    @property
    def form(self) -> str:
        """How the term is written, e.g. ``learned:L1[:MIN]``."""
        return self.name + "".join(f"[:{a.placeholder}]" if a.optional else f":{a.placeholder}" for a in self.args)

    def active(self, policy: "HaloPolicy") -> bool:
        """Whether ``policy`` has this term."""
        if self.field is not None:
            return getattr(policy, self.field) == self.name
        return getattr(policy, self.args[0].field) != _DEFAULTS[self.args[0].field]

    def render(self, policy: "HaloPolicy") -> str:
        """The term as written for ``policy`` (its canonical form)."""
        return ":".join([self.name] + [f"{getattr(policy, arg.field):g}" for arg in self.args])


TERMS: tuple[Term, ...] = (
    Term("sample", "rows", args=(Arg("sample", "P", float, "a fraction in (0, 1]", lambda v: 0.0 < v <= 1.0),)),
    Term("delta", "rows", args=(Arg("delta", "T", float, "a threshold >= 0", lambda v: v >= 0.0),),
         excludes=(("stale", "its bookkeeping needs the message of the same epoch"),)),
    Term("topk", "channels", args=(Arg("topk", "R", float, "a fraction in (0, 1]", lambda v: 0.0 < v <= 1.0),),
         excludes=(("stale", "its bookkeeping needs the message of the same epoch"),)),
    Term("fp16", "encoding", field="encoding"),
    Term("bf16", "encoding", field="encoding"),
    Term("int8", "encoding", field="encoding"),
    Term("stale", "stale", args=(Arg("stale", "K", int, "a whole number of epochs >= 1", lambda v: v >= 1),)),
    Term("learned", "channels",
         args=(Arg("learned", "L1", float, "an L1 weight > 0", lambda v: v > 0.0),
               Arg("learned_min", "MIN", float, "a gate threshold in (0, 1)", lambda v: 0.0 < v < 1.0, optional=True)),
         in_evaluation=True),
)
"""Every term of the grammar, in canonical order (each term's object is built by
:data:`gnnpart.comm.policy.families.BUILDERS`)."""

FAMILIES = ("rows", "encoding", "channels", "stale")
"""The families; a policy has at most one term of each."""

_BY_NAME = {t.name: t for t in TERMS}
NAMES = ("exact",) + tuple(_BY_NAME)
ENCODINGS = tuple(t.name for t in TERMS if t.field == "encoding")


@dataclass(frozen=True)
class HaloPolicy:
    """One layer's exchange policy: at most one term of each family (see the module docstring).

    Every field is checked against the term table when the policy is made: ``HaloPolicy(sample=5)`` raises a
    ``ValueError`` that names the field, the rule and the value.

    Args:
        sample (float, optional): ``P`` of ``sample:P``.
        delta (float, optional): ``T`` of ``delta:T``.
        encoding (str, optional): ``fp16``, ``bf16`` or ``int8``.
        topk (float, optional): ``R`` of ``topk:R``.
        stale (int): ``K`` of ``stale:K`` (0: fresh).
        learned (float, optional): ``L1`` of ``learned:L1[:MIN]``.
        learned_min (float): ``MIN`` of ``learned`` (default 0.05).
    """

    sample: float | None = None
    delta: float | None = None
    encoding: str | None = None
    topk: float | None = None
    stale: int = 0
    learned: float | None = None
    learned_min: float = 0.05

    def __post_init__(self) -> None:
        if self.encoding is not None and self.encoding not in ENCODINGS:
            raise ValueError(f"HaloPolicy: `encoding` must be one of {', '.join(ENCODINGS)} (got {self.encoding!r})")
        for term in TERMS:
            for arg in term.args:
                value = getattr(self, arg.field)
                if value != _DEFAULTS[arg.field] or arg.optional:
                    arg.check(value, "HaloPolicy")
        if self.learned is None and self.learned_min != _DEFAULTS["learned_min"]:
            raise ValueError(f"HaloPolicy: `learned_min` applies only with `learned` (got learned_min="
                             f"{self.learned_min!r} and learned=None)")
        _check_composition([(t.render(self), t) for t in self.terms], "HaloPolicy")

    @property
    def terms(self) -> list[Term]:
        """The terms this policy has, in canonical order."""
        return [t for t in TERMS if t.active(self)]

    @property
    def is_exact(self) -> bool:
        """Whether the policy has no term."""
        return not self.terms

    def for_evaluation(self) -> "HaloPolicy":
        """The policy evaluation uses: only the terms that belong to the model (``learned``), else exact."""
        kept = {arg.field: getattr(self, arg.field) for t in self.terms if t.in_evaluation for arg in t.args}
        return HaloPolicy(**kept)

    def without(self, name: str) -> "HaloPolicy":
        """This policy without the term ``name`` (unchanged if it does not have it).

        Args:
            name (str): a term of :data:`TERMS`, e.g. ``"learned"``.
        """
        term = _BY_NAME.get(name)
        if term is None:
            raise ValueError(f"`name` must be a halo policy term ({', '.join(_BY_NAME)}) (got {name!r})")
        if not term.active(self):
            return self
        cleared = {arg.field: _DEFAULTS[arg.field] for arg in term.args}
        if term.field is not None:
            cleared[term.field] = None
        return replace(self, **cleared)

    def build(self):
        """New objects of each family for one exchange (the family's default where the policy has no term): a
        :class:`~gnnpart.comm.policy.families.Components`."""
        from gnnpart.comm.policy.families import build_components  # the families need torch; parsing does not

        return build_components(self)

    def __str__(self) -> str:
        return "+".join(t.render(self) for t in self.terms) or "exact"


_DEFAULTS = {f.name: f.default for f in fields(HaloPolicy)}


def _check_composition(active: list[tuple[str, Term]], where: str) -> None:
    """Refuse two terms of one family, and the pairs the table excludes. ``active``: ``(as written, Term)``."""
    seen: dict = {}
    for text, term in active:
        if term.family in seen:
            raise ValueError(f"{where}: `{seen[term.family]}` and `{text}` both choose the {term.family}; "
                             "use one of them")
        seen[term.family] = text
    names = {term.name: text for text, term in active}
    for text, term in active:
        for other, reason in term.excludes:
            if other in names:
                raise ValueError(f"{where}: `{other}` does not compose with `{text}` ({reason})")


def parse_layer(spec: str) -> HaloPolicy:
    """One layer spec (``exact``, or terms joined by ``+``) -> :class:`HaloPolicy`.

    Args:
        spec (str): e.g. ``"sample:0.5+int8"`` (the grammar is in this module's docstring).

    Raises:
        ValueError: naming the term, the rule and the value, for anything the grammar refuses.
    """
    text = spec.strip()
    if not text:
        raise ValueError("halo spec: a layer spec is empty (expected e.g. `exact`, `int8` or `sample:0.5+int8`)")
    written = [t.strip() for t in text.split("+")]
    active: list[tuple[str, Term]] = []
    values: dict = {}
    for item in written:
        name, *args = item.split(":")
        if name == "exact":
            if len(written) > 1:
                raise ValueError(f"halo spec `{text}`: `exact` does not compose with other policies")
            if args:
                raise ValueError(f"halo spec `{item}`: expected the form `exact`")
            continue
        term = _BY_NAME.get(name)
        if term is None:
            raise ValueError(f"halo spec `{item}`: unknown policy '{name}' (expected one of {', '.join(NAMES)})")
        required = sum(not a.optional for a in term.args)
        if not required <= len(args) <= len(term.args):
            raise ValueError(f"halo spec `{item}`: expected the form `{term.form}`")
        _check_composition(active + [(item, term)], f"halo spec `{text}`")
        active.append((item, term))
        if term.field is not None:
            values[term.field] = term.name
        for arg, value in zip(term.args, args):
            values[arg.field] = arg.parse(item, value)
    return HaloPolicy(**values)


def parse_halo(spec, num_layers: int) -> list[HaloPolicy]:
    """``--halo SPEC`` -> one :class:`HaloPolicy` per layer.

    Args:
        spec (str | HaloPolicy | list, optional): a spec string (one for all layers, or comma-separated, one per
            layer), a policy, or a list with one str/policy per layer. None means exact.
        num_layers (int): the model's number of layers.
    """
    if spec is None:
        return [HaloPolicy()] * num_layers
    if isinstance(spec, HaloPolicy):
        return [spec] * num_layers
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    policies = [p if isinstance(p, HaloPolicy) else parse_layer(str(p)) for p in parts]
    if len(policies) == 1:
        return policies * num_layers
    if len(policies) != num_layers:
        raise ValueError(f"halo spec '{spec}' has {len(policies)} layer specs; it needs one for all layers or one "
                         f"per layer ({num_layers})")
    return policies


SUMS_REFUSE = {
    "sample": "it drops single boundary nodes' rows and rescales them, and a partial sum is not one node's row",
    "topk": "it picks each row's largest channels and their positions, which a partial sum of several rows mixes",
    "learned": "its gate multiplies each halo node's row at the receiver, and a partial sum has already added several",
}
"""The policy terms that do not compose with partial sums, and why (the others do: codecs, ``delta``, ``stale``)."""


def needs_sums_check(policies, aggregate_at: str) -> bool:
    """Whether :func:`gnnpart.nn.local_graph.check_sums_compose` can refuse anything: ``aggregate_at`` is not ``receiver`` and a policy of
    ``policies`` has a term of :data:`SUMS_REFUSE` (no model is needed to say no)."""
    return aggregate_at != "receiver" and any(term.name in SUMS_REFUSE and term.active(p)
                                              for p in policies for term in TERMS)
