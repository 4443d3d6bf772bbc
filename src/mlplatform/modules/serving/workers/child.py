"""A model worker process: `python -m mlplatform.modules.serving.workers.child --location ... --scratch ...`.

Started by `ModelWorkerPool`, never by hand. It loads one MLflow pyfunc model, warms it up, then answers
predict requests read from its stdin until the platform closes that pipe (or SIGTERM).

- Protocol on the pipes the platform holds (`protocol.py`). The process's own fd 0 is /dev/null and fd 1
  is its stderr: a model that prints (or a C library writing to fd 1) cannot corrupt the protocol, and
  its output reaches the platform log through stderr.
- Memory: `RLIMIT_AS` from `--memory-limit-mb` limits the process's *virtual* address space (mappings,
  thread stacks, reserved heap arenas), not its resident memory; an import of MLflow and scikit-learn
  reserves ~600 MB of it. An allocation past the limit raises MemoryError: while loading, the load fails;
  during a predict, that request fails as a model error and the worker keeps serving.
- Threads: the platform starts one such process per unit of parallelism, so BLAS/OpenMP pools default to
  one thread (the platform sets OMP_NUM_THREADS & co. unless the deployment's environment does).
- A model that is not on the local disk is downloaded into a folder under `--scratch` (the pool's; it
  removes the whole folder when it closes, which also covers a worker that was SIGKILLed).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import logging
import os
import queue
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from mlplatform.modules.serving.workers.protocol import (
    HEADER,
    Answer,
    ColumnSpec,
    Failure,
    LoadError,
    ModelInfo,
    Ready,
    Reply,
    Request,
    describe,
    encode,
    frame_length,
    request_decoder,
)

if TYPE_CHECKING:
    from mlflow.pyfunc import PyFuncModel

    from mlplatform.modules.serving.workers.runner import Worker

log = logging.getLogger("mlplatform.serving.worker")


class LoadFailure(Exception):
    """The model cannot be served; the message is the reason the platform reports."""


def isolate_stdio() -> tuple[IO[bytes], IO[bytes]]:
    """The protocol's pipes, moved off fds 0/1; fd 0 becomes /dev/null, fd 1 a copy of stderr."""
    protocol_in, protocol_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_in, "rb"), os.fdopen(protocol_out, "wb")


def limit_memory(limit_mb: int | None) -> None:
    if limit_mb:
        limit = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def out_of_address_space(exc: BaseException) -> bool:
    """An import or mmap that failed for want of address space (the loader says so in words, not with a
    MemoryError: "failed to map segment from shared object", "Cannot allocate memory")."""
    text = str(exc).lower()
    return "failed to map segment" in text or "cannot allocate memory" in text


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return round(resident_pages * resource.getpagesize() / 2**20, 1)


def local_model_path(location: str, scratch: str) -> str:
    """A local folder holding the model (checked before MLflow is imported, so a wrong location fails in
    milliseconds): the location itself, or a download of it into `scratch`."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        path = unquote(parsed.path) if parsed.scheme else location
    else:
        import mlflow.artifacts

        path = str(mlflow.artifacts.download_artifacts(artifact_uri=location, dst_path=scratch))
    if not os.path.isfile(os.path.join(path, "MLmodel")):
        raise LoadFailure(f"{location} is not an MLflow model: it has no MLmodel file")
    check_mlmodel(path)
    return path


def check_mlmodel(path: str) -> None:
    """Refuse what MLflow would refuse only after its ~2-4 s import: an MLmodel that is not YAML, a model
    without a python_function flavor, a loader module whose package is not installed."""
    import yaml

    try:
        with open(os.path.join(path, "MLmodel")) as file:
            document = yaml.safe_load(file)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LoadFailure(f"the model could not be loaded: its MLmodel file is not YAML ({describe(exc)})") from exc
    flavors = document.get("flavors") if isinstance(document, dict) else None
    pyfunc = flavors.get("python_function") if isinstance(flavors, dict) else None
    if not isinstance(pyfunc, dict):
        raise LoadFailure("the model has no python_function flavor: it cannot be served as a pyfunc model")
    loader = pyfunc.get("loader_module")
    if isinstance(loader, str) and loader and importlib.util.find_spec(loader.partition(".")[0]) is None:
        raise LoadFailure(
            f"missing dependency: the model needs the Python module '{loader}', which is not installed "
            "in the platform's environment"
        )


def column_specs(schema: Any) -> list[ColumnSpec] | None:
    if schema is None or schema.is_tensor_spec():
        return None
    specs = []
    for index, column in enumerate(schema.inputs):
        name = column.name if column.name is not None else str(index)
        specs.append(ColumnSpec(name=name, type=str(column.to_dict()["type"]), required=bool(column.required)))
    return specs


def load(location: str, scratch: str, limit_mb: int | None) -> tuple[PyFuncModel, ModelInfo, Any]:
    """Load and warm up the model; every failure is a `LoadFailure` with a reason for people."""
    try:
        path = local_model_path(location, scratch)
        import mlflow.pyfunc
        from mlflow.models import Model

        model = mlflow.pyfunc.load_model(path)
    except LoadFailure:
        raise
    except ModuleNotFoundError as exc:
        raise LoadFailure(
            f"missing dependency: the model needs the Python module '{exc.name}', which is not installed "
            "in the platform's environment"
        ) from exc
    except MemoryError as exc:
        raise LoadFailure(f"the memory limit ({limit_mb} MB of address space) was hit while loading") from exc
    except Exception as exc:
        if limit_mb and out_of_address_space(exc):
            raise LoadFailure(
                f"the memory limit ({limit_mb} MB of address space) was hit while loading: {describe(exc)}"
            ) from exc
        raise LoadFailure(f"the model could not be loaded: {describe(exc)}") from exc
    try:
        example = Model.load(path).load_input_example(path)
        if example is not None:
            model.predict(example)
    except MemoryError as exc:
        raise LoadFailure(f"the memory limit ({limit_mb} MB of address space) was hit while warming up") from exc
    except Exception as exc:
        raise LoadFailure(f"the warm-up predict on the model's input example failed: {describe(exc)}") from exc
    metadata = model.metadata
    inputs, outputs = metadata.get_input_schema(), metadata.get_output_schema()
    gc.collect()
    gc.freeze()  # the imported libraries and the model live as long as the process: out of every collection
    info = ModelInfo(
        flavor=next((name for name in metadata.flavors if name != "python_function"), None),
        inputs=column_specs(inputs),
        tensor_inputs=inputs is not None and inputs.is_tensor_spec(),
        outputs=column_specs(outputs),
        mlflow_version=metadata.mlflow_version,
        memory_rss_mb=rss_mb(),
        load_seconds=0.0,
    )
    return model, info, example


def read_requests(stream: IO[bytes], inbox: queue.SimpleQueue[Request | None]) -> None:
    """The reader thread: requests into `inbox` as they arrive (so they queue up during a predict);
    None at EOF, when the platform closed the pipe or went away."""
    try:
        while len(header := stream.read(HEADER.size)) == HEADER.size:
            length = frame_length(header)
            body = stream.read(length)
            if len(body) != length:
                break
            inbox.put(request_decoder.decode(body))
    except Exception:
        log.exception("model worker: unreadable request stream; exiting")
    finally:
        inbox.put(None)


def send(out: IO[bytes], replies: list[Reply]) -> None:
    for reply in replies:
        try:
            frame = encode(reply)
        except (TypeError, OverflowError, ValueError) as exc:
            assert isinstance(reply, Answer)
            frame = encode(Failure(id=reply.id, kind="model", message=f"the model's output cannot be sent: {exc}"))
        out.write(frame)
    out.flush()


def serve(worker: Worker, requests: IO[bytes], out: IO[bytes]) -> None:
    inbox: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
    threading.Thread(target=read_requests, args=(requests, inbox), name="requests", daemon=True).start()
    while (first := inbox.get()) is not None:
        pending, done = [first], False
        while not done:
            try:
                following = inbox.get_nowait()
            except queue.Empty:
                break
            if following is None:
                done = True
            else:
                pending.append(following)
        try:
            for replies in worker.run(pending):
                send(out, replies)
        except BrokenPipeError:
            return  # the platform is gone
        if done:
            return


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A model worker process (started by the platform).")
    parser.add_argument("--name", required=True, help="the deployment it serves (for logs and ps)")
    parser.add_argument("--location", required=True, help="local folder, file:// or s3:// URI of the model")
    parser.add_argument("--scratch", required=True, help="folder for a downloaded model")
    parser.add_argument("--memory-limit-mb", type=int, default=0, help="RLIMIT_AS in MB; 0: none")
    parser.add_argument("--max-batch-rows", type=int, default=10_000, help="rows per merged predict")
    args = parser.parse_args(argv)
    requests, out = isolate_stdio()
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    limit_memory(args.memory_limit_mb)
    scratch = tempfile.mkdtemp(prefix="model-", dir=args.scratch)
    started = time.monotonic()
    try:
        try:
            model, info, example = load(args.location, scratch, args.memory_limit_mb)
        except LoadFailure as exc:
            send(out, [LoadError(reason=str(exc))])
            sys.exit(1)
        log.info("model worker %s loaded in %.1f s", args.name, time.monotonic() - started)
        send(out, [Ready(info=info)])
        from mlplatform.modules.serving.workers.runner import Worker

        serve(Worker(model, args.max_batch_rows, example), requests, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(OSError):
            out.close()


if __name__ == "__main__":
    main()
