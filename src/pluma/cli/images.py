"""``pluma images generate|checkpoints|list`` and ``pluma images connections …``.

Like ``pluma connections``, these work on the data directory directly (no
server needed): the image connection profiles in ``image_connections.json``,
secrets in the same secret store the server uses, and results saved in the
same gallery (``<datadir>/images``, or the database with ``PLUMA_DATABASE_URL``),
so a running server lists them too.

``generate`` shows a progress bar on the terminal (stderr) and prints the
saved files (stdout). Ctrl-C interrupts the job on the backend too.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import typer

from pluma.cli.common import DataDirOption, SecretsOption, fail, open_services, run, settings_for

images_app = typer.Typer(
    help="Generate images through AUTOMATIC1111 or ComfyUI.", no_args_is_help=True
)
connections_app = typer.Typer(help="Manage image connection profiles.", no_args_is_help=True)
images_app.add_typer(connections_app, name="connections")


def register(app: typer.Typer) -> None:
    app.add_typer(images_app, name="images")


def open_image_manager(settings: Any) -> Any:
    """The ImageConnectionManager of the CLI's services (with the
    ``PLUMA_IMAGE_URL`` fallback, like the server); plugin problems are
    printed as warnings."""
    return _image_services(settings).image_connections


def _image_services(settings: Any) -> Any:
    services = open_services(settings)
    services.image_connections  # noqa: B018  (loads the image plugins: their problems)
    for problem in services.problems:
        typer.echo(f"warning: {problem}", err=True)
    return services


def _backend_errors(call: Any) -> Any:
    from pluma.server.images.base import ImageBackendError
    from pluma.server.storage.gallery import GalleryError

    try:
        return run(call)
    except ImageBackendError as exc:
        raise fail(exc.message) from None
    except GalleryError as exc:
        raise fail(str(exc)) from None


@images_app.command()
def generate(
    prompt: str = typer.Argument(..., help="What to draw."),
    negative: str = typer.Option("", "--negative", "-n", help="Negative prompt."),
    width: int = typer.Option(512, "--width", "-W", min=64, max=8192),
    height: int = typer.Option(512, "--height", "-H", min=64, max=8192),
    steps: int = typer.Option(20, "--steps", min=1, max=1000),
    cfg: float = typer.Option(7.0, "--cfg", min=0, max=100, help="CFG scale."),
    sampler: str = typer.Option("", "--sampler", help="Default: the backend's."),
    scheduler: str = typer.Option("", "--scheduler", help="Default: the backend's."),
    seed: int = typer.Option(None, "--seed", help="Default: random (printed)."),
    batch: int = typer.Option(1, "--batch", min=1, max=64, help="Images per run."),
    batch_count: int = typer.Option(1, "--batch-count", min=1, max=100, help="Runs in a row."),
    checkpoint: str = typer.Option("", "--checkpoint", help="Default: the connection's."),
    vae: str = typer.Option("", "--vae", help="Default: the checkpoint's own."),
    lora: list[str] = typer.Option(
        [], "--lora", help="NAME or NAME:WEIGHT, as the backend lists it (repeatable)."
    ),
    init_image: Path = typer.Option(
        None, "--init-image", exists=True, dir_okay=False, help="Image to image: the picture."
    ),
    denoise: float = typer.Option(
        0.75, "--denoise", min=0, max=1, help="Image to image: how much may change."
    ),
    mask: Path = typer.Option(
        None, "--mask", exists=True, dir_okay=False, help="Inpainting: white repaints."
    ),
    hires: float = typer.Option(
        0.0, "--hires", min=0, max=4, help="Hires fix: upscale factor (0: off)."
    ),
    hires_upscaler: str = typer.Option("", "--hires-upscaler", help="Default: latent."),
    hires_steps: int = typer.Option(0, "--hires-steps", min=0, max=1000),
    hires_denoise: float = typer.Option(0.5, "--hires-denoise", min=0, max=1),
    connection: str = typer.Option(
        None, "--connection", "-c", help="Name or id (default: active)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Also copy the images into this directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored records as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Generate images and save them in the gallery (with their parameters)."""
    import httpx
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from pluma.server.images.a1111 import sniff_mime
    from pluma.server.images.base import HiresFix, ImageRequest, InputImage, LoraRef
    from pluma.server.images.base import Progress as ImageProgress
    from pluma.server.storage.gallery import Gallery

    def picture(path: Path | None) -> InputImage | None:
        if path is None:
            return None
        data = path.read_bytes()
        mime = sniff_mime(data)
        if not mime.startswith("image/"):
            raise fail(f"{path} is not a PNG, JPEG or WebP picture", 2)
        return InputImage(data=data, mime_type=mime, source=f"file:{path.name}")

    loras: list[LoraRef] = []
    for item in lora:
        name, _, weight = item.rpartition(":") if ":" in item else (item, "", "1")
        try:
            loras.append(LoraRef(name.strip(), float(weight)))
        except ValueError:
            raise fail(f"--lora {item!r}: the weight after ':' must be a number", 2) from None

    settings = settings_for(data_dir, secrets)
    services = _image_services(settings)
    manager = services.image_connections
    gallery = services.gallery
    init = picture(init_image)
    request = ImageRequest(
        prompt=prompt,
        negative_prompt=negative,
        width=width,
        height=height,
        steps=steps,
        cfg_scale=cfg,
        sampler=sampler,
        scheduler=scheduler,
        seed=seed,
        batch_size=batch,
        batch_count=batch_count,
        checkpoint=checkpoint,
        vae=vae,
        loras=loras,
        init_image=init,
        mask=picture(mask),
        denoise=denoise if init is not None else 1.0,
        hires=HiresFix(hires, hires_upscaler, hires_steps, hires_denoise) if hires else None,
    )
    try:
        request.validate()
    except ValueError as exc:
        raise fail(str(exc), 2) from None

    console = Console(stderr=True)
    show = not quiet and not as_json and console.is_terminal
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
        transient=True,
    )

    async def go() -> tuple[Any, list[dict[str, Any]]]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(None)) as http:
            provider, profile = manager.provider(connection, http)
            with bar:
                task = bar.add_task(f"{profile.name} ({profile.kind})", total=1.0, detail="")

                def on_progress(p: ImageProgress) -> None:
                    detail = f"step {p.step}/{p.steps}" if p.step and p.steps else ""
                    if p.queued:
                        detail = f"waiting: {p.text or 'queued behind other jobs'}"
                    if p.node and not detail:
                        detail = f"node {p.node}"
                    bar.update(task, completed=p.fraction, detail=detail)

                result = await provider.generate(request, on_progress)
                bar.update(task, completed=1.0)
            ref = {"id": profile.id, "name": profile.name, "kind": profile.kind}
            return result, await gallery.save(result, ref)

    try:
        result, records = _backend_errors(lambda: asyncio.run(go()))
    except KeyboardInterrupt:
        raise fail("cancelled (the backend was asked to stop)", 130) from None
    # Where each image is: its file in the file gallery, else (a database
    # store) its id; with --out, the copy written there.
    paths: list[Any] = [
        gallery.root / r["file"] if isinstance(gallery, Gallery) else r["id"] for r in records
    ]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        copies = []
        for record, image in zip(records, result.images, strict=True):
            target = out / str(record["file"])
            target.write_bytes(image.data)
            copies.append(target)
        paths = copies
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    for path in paths:
        typer.echo(str(path))
    typer.echo(f"seed {result.seed}", err=True)
    for warning in result.warnings:
        typer.echo(f"note: {warning}", err=True)


@images_app.command()
def checkpoints(
    connection: str = typer.Option(
        None, "--connection", "-c", help="Name or id (default: active)."
    ),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """List the checkpoints of an image backend."""
    import httpx

    manager = open_image_manager(settings_for(data_dir, secrets))

    async def go() -> list[str]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(None)) as http:
            provider, _ = manager.provider(connection, http)
            names: list[str] = await provider.list_checkpoints()
            return names

    for name in _backend_errors(lambda: asyncio.run(go())):
        typer.echo(name)


@images_app.command("list")
def list_images(
    limit: int = typer.Option(20, "--limit", min=1),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """List the gallery, newest first."""
    from pluma.server.storage.gallery import Gallery

    settings = settings_for(data_dir, secrets)
    gallery = open_services(settings).gallery
    records, total = _backend_errors(lambda: asyncio.run(gallery.list(limit)))
    if as_json:
        typer.echo(json.dumps(records, indent=2))
        return
    for r in records:
        p = r.get("parameters", {})
        where = gallery.root / r["file"] if isinstance(gallery, Gallery) else r["url"]
        typer.echo(f"{r['id']}  seed {p.get('seed')}  {p.get('prompt', '')[:60]!r}  {where}")
    if total > len(records):
        typer.echo(f"({total - len(records)} more)", err=True)


# -- connections ----------------------------------------------------------------


@connections_app.command("list")
def connections_list(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """List image connection profiles (* marks the active one)."""
    manager = open_image_manager(settings_for(data_dir, secrets))

    def rows() -> list[dict[str, Any]]:
        active = manager.active()
        profiles = manager.list() or ([active] if active is not None else [])
        return [
            {
                "id": p.id,
                "name": p.name,
                "kind": p.kind,
                "base_url": p.base_url,
                "auth": p.auth,
                "has_secret": manager.has_secret(p),
                "active": active is not None and p.id == active.id,
                "fallback": manager.is_fallback(p),
            }
            for p in profiles
        ]

    found = run(rows)
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        typer.echo(
            "no image connections; add one with `pluma images connections add NAME --base-url URL`"
        )
    for r in found:
        mark = "*" if r["active"] else " "
        extra = "  (fallback from --image-url)" if r["fallback"] else ""
        typer.echo(
            f"{mark} {r['name']}  [{r['kind']}]  {r['base_url']}  auth {r['auth']}  id {r['id']}{extra}"
        )


@connections_app.command("add")
def connections_add(
    name: str = typer.Argument(..., help="Unique name."),
    base_url: str = typer.Option(..., "--base-url", help="e.g. http://127.0.0.1:7860"),
    kind: str = typer.Option("a1111", "--kind", help="a1111 or comfyui (or a plugin's kind)."),
    auth: str = typer.Option("none", "--auth", help="none, basic or bearer."),
    username: str = typer.Option("", "--username", help="For basic auth."),
    secret_stdin: bool = typer.Option(
        False, "--secret-stdin", help="Read the password or token from stdin."
    ),
    checkpoint: str = typer.Option("", "--checkpoint", help="Default checkpoint."),
    workflow: Path = typer.Option(
        None, "--workflow", help="ComfyUI workflow exported in API format (JSON file)."
    ),
    activate: bool = typer.Option(False, "--activate", help="Make it the active image connection."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Add an image connection profile."""
    secret = None
    if secret_stdin:
        secret = sys.stdin.readline().strip()
        if not secret:
            raise fail("no secret on stdin", 2)
    workflow_text = None
    if workflow is not None:
        try:
            workflow_text = workflow.read_text(encoding="utf-8")
        except OSError as exc:
            raise fail(f"cannot read {workflow}: {exc.strerror or exc}", 2) from None
    manager = open_image_manager(settings_for(data_dir, secrets))
    profile = run(
        lambda: manager.create(
            name=name,
            base_url=base_url,
            kind=kind,
            auth=auth,
            username=username,
            secret=secret,
            default_checkpoint=checkpoint,
            workflow=workflow_text,
            activate=activate,
        )
    )
    active = manager.active_id == profile.id
    typer.echo(f"added {profile.name!r} (id {profile.id}){' — active' if active else ''}")


@connections_app.command("remove")
def connections_remove(
    ref: str = typer.Argument(..., help="Name or id."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Remove an image connection profile and its secret."""
    manager = open_image_manager(settings_for(data_dir, secrets))
    profile = run(lambda: manager.lookup(ref))
    run(lambda: manager.delete(profile.id))
    typer.echo(f"removed {profile.name!r}")


@connections_app.command("activate")
def connections_activate(
    ref: str = typer.Argument(..., help="Name or id."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Make an image connection the active one."""
    manager = open_image_manager(settings_for(data_dir, secrets))
    profile = run(lambda: manager.activate(manager.lookup(ref).id))
    typer.echo(f"{profile.name!r} is now the active image connection")


@connections_app.command("test")
def connections_test(
    ref: str = typer.Argument(None, help="Name or id (default: the active one)."),
    data_dir: Path = DataDirOption,
    secrets: str = SecretsOption,
) -> None:
    """Check that an image backend answers (exit 1 if not)."""
    import httpx

    from pluma.server.images.base import ImageBackendError

    manager = open_image_manager(settings_for(data_dir, secrets))

    async def go() -> tuple[Any, list[str]]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(None)) as http:
            provider, profile = manager.provider(ref, http)
            async with asyncio.timeout(15):
                await provider.ping()
                return profile, await provider.list_checkpoints()

    try:
        profile, names = run(lambda: asyncio.run(go()))
    except ImageBackendError as exc:
        typer.echo(f"failed — {exc.message}")
        raise typer.Exit(1) from None
    except TimeoutError:
        typer.echo("failed — the backend did not answer within 15 s")
        raise typer.Exit(1) from None
    typer.echo(f"{profile.name}: ok — {len(names)} checkpoints")
