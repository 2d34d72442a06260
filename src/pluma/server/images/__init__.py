"""Image backends: the ImageProvider contract, AUTOMATIC1111 and ComfyUI,
and image connection profiles (the gallery of generated images is storage:
:mod:`pluma.server.storage.gallery`).

Importing this package registers the built-in providers (``a1111``,
``comfyui``).
"""

from pluma.server.images import a1111, comfyui
from pluma.server.images.base import (
    BackendOptions,
    GeneratedImage,
    HiresFix,
    ImageBackendError,
    ImageProvider,
    ImageProviderFactory,
    ImageRequest,
    ImageResult,
    InputImage,
    ListsOptions,
    LoraRef,
    Progress,
    ProgressCallback,
    create_image_provider,
    image_provider_kinds,
    register_image_provider,
)
from pluma.server.images.jobs import GenerationJob, generate_events
from pluma.server.images.profiles import ImageConnectionProfile

__all__ = [
    "BackendOptions",
    "GeneratedImage",
    "GenerationJob",
    "HiresFix",
    "ImageBackendError",
    "ImageConnectionProfile",
    "ImageProvider",
    "ImageProviderFactory",
    "ImageRequest",
    "ImageResult",
    "InputImage",
    "ListsOptions",
    "LoraRef",
    "Progress",
    "ProgressCallback",
    "a1111",
    "comfyui",
    "create_image_provider",
    "generate_events",
    "image_provider_kinds",
    "register_image_provider",
]
