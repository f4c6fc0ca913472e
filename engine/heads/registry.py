"""The head recognisers, in the order they are tried, and :func:`predict`.

A recogniser is one module declaring ``RECOGNISER`` (kind, ``recognise``,
``decode``) and one line in :data:`RECOGNISERS`; the first that recognises the
model's outputs wins, and :func:`unknown_head` is the fallback. Outputs made by
ArgMax, TopK, NonMaxSuppression or a Cast to integers cannot be explained (they
do not change smoothly); the head reads the tensor they consume instead and says so.
"""

from __future__ import annotations

import numpy as np

from engine.cancellation import CancelToken
from engine.featuremaps import exposed_model
from engine.heads import classifier, ctc, dense_map, detection, split_dfl, yolo
from engine.heads.types import Head, HeadContext, PredictionItem, Predictions, Recogniser
from engine.input_proposal import CHARSET_MIN, metadata_characters, metadata_names
from engine.input_spec import detect_layout
from engine.model_io import LoadedModel
from engine.providers import ProviderPreference
from engine.session import SESSIONS, SessionCache
from engine.types import PreparedInput

RECOGNISERS: tuple[Recogniser, ...] = (
    ctc.RECOGNISER,
    yolo.RECOGNISER,
    split_dfl.RECOGNISER,
    detection.RECOGNISER,
    dense_map.RECOGNISER,
    classifier.RECOGNISER,
)

#: Ops whose integer outputs are moved back to the float tensor they consume.
CONSUMING_OPS = ("ArgMax", "ArgMin", "TopK", "NonMaxSuppression", "Cast")
_INTEGER_CASTS = {2, 3, 4, 5, 6, 7, 9, 12, 13}  # uint8..int64, bool, uint32/64


def _moved_outputs(model: LoadedModel) -> dict[str, tuple[str, str]]:
    """Output -> (consumed float tensor, op) for outputs made by ArgMax/TopK/NMS/int Cast."""
    producers = {out: node for node in model.proto.graph.node for out in node.output}
    moved = {}
    for output in model.proto.graph.output:
        node = producers.get(output.name)
        if node is None or node.op_type not in CONSUMING_OPS or not node.input:
            continue
        if node.op_type == "Cast":
            to = next((a.i for a in node.attribute if a.name == "to"), 1)
            if to not in _INTEGER_CASTS:
                continue
        if node.op_type == "NonMaxSuppression" and len(node.input) > 1:
            moved[output.name] = (node.input[1], node.op_type)  # the scores
        else:
            moved[output.name] = (node.input[0], node.op_type)
    return moved


def model_input_size(prepared: PreparedInput) -> tuple[int, int]:
    """(H, W) of the first rank-4 input as fed (the spec's layout, else guessed)."""
    for _, value in prepared.feeds:
        if value.ndim == 4:
            layout = prepared.spec.layout if prepared.spec is not None else \
                detect_layout(tuple(value.shape))
            return (int(value.shape[2]), int(value.shape[3])) if layout == "NCHW" else \
                (int(value.shape[1]), int(value.shape[2]))
    return (1, 1)


def labels_of(model: LoadedModel, given: tuple[str, ...] = ()
              ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(class names, charset): ``given`` names (a labels file) first, else the metadata's."""
    characters = metadata_characters(model.info)
    names = given or metadata_names(model.info)
    if not names and 0 < len(characters) < CHARSET_MIN:
        names = characters
    charset = characters if len(characters) >= CHARSET_MIN else ()
    return names, charset


def unknown_head(ctx: HeadContext) -> Head:
    """The fallback: the largest value of the first float output."""
    name = next((n for n in ctx.output_names if ctx.values[n].dtype.kind == "f"),
                ctx.output_names[0])
    return Head("unknown", name, f"no head recogniser matched; output '{name}' of shape "
                f"{list(ctx.values[name].shape)} is explained by its largest value")


def _unknown_items(ctx: HeadContext, head: Head) -> tuple[PredictionItem, ...]:
    value = np.asarray(ctx.values[head.output], dtype=np.float64)
    if value.size == 0:
        return ()
    index = np.unravel_index(int(np.argmax(value)), value.shape)
    coords = ",".join(str(int(i)) for i in index[1:]) if value.ndim > 1 else ""
    return (PredictionItem(label=f"largest value of {head.output}", score=float(value.max()),
                           target=f"{head.output}:{coords}" if coords else "top1"),)


def recognise_head(ctx: HeadContext) -> tuple[Head, Recogniser | None]:
    """The first recogniser's head (and that recogniser), or the unknown head."""
    for recogniser in RECOGNISERS:
        head = recogniser.recognise(ctx)
        if head is not None:
            return head, recogniser
    return unknown_head(ctx), None


def predict(model: LoadedModel, prepared: PreparedInput, preference: ProviderPreference = "auto",
            cache: SessionCache = SESSIONS, cancel: CancelToken | None = None,
            labels: tuple[str, ...] = ()) -> Predictions:
    """Run the model once and say what it predicts on this input.

    Parameters
    ----------
    model, prepared
        The model and its input.
    preference, cache
        Where the run goes.
    cancel
        Terminates the run.
    labels
        Class names from a labels file (else from the model's metadata).

    Returns
    -------
    Predictions
        The recognised head and its predictions, best first, in the original
        image's pixels; each with the ``--target`` text that explains it.
    """
    moved = _moved_outputs(model)
    tensors = sorted({source for source, _ in moved.values()})
    if tensors:
        session = cache.get(model.sha256, tuple(tensors), preference, "all",
                            lambda: exposed_model(model, tensors))
    else:
        session = cache.get(model.sha256, (), preference, "all", lambda: model.proto)
    values = session.run(prepared.feed_dict(), cancel=cancel)
    originals = tuple(o.name for o in model.proto.graph.output)
    names = tuple(moved[n][0] if n in moved else n for n in originals)
    classes, charset = labels_of(model, labels)
    ctx = HeadContext(info=model.info, values=values, output_names=names,
                      input_size=model_input_size(prepared), transform=prepared.transform,
                      labels=classes, charset=charset,
                      producers={source: f"{op}:{out}" for out, (source, op) in moved.items()})
    head, recogniser = recognise_head(ctx)
    items = recogniser.decode(ctx, head) if recogniser is not None else _unknown_items(ctx, head)
    if head.output in ctx.producers:
        op, output = ctx.producers[head.output].split(":", 1)
        head = Head("argmax", head.output, f"output '{output}' is made by {op}, which cannot "
                    f"be explained; its input '{head.output}' is read instead ({head.reason})",
                    outputs=head.outputs, stride=head.stride, moved_from=output)
    return Predictions(head=head, items=items)
