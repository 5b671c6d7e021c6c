"""A small OpenAI-compatible server for a local transformers vision-language model.

    python -m models.pipeline.judges.serve --model-dir DIR [--name NAME] [--port 8000] [--host 127.0.0.1]

Serves `GET /v1/models` and `POST /v1/chat/completions` (text and `image_url` content items, images as
base64 data URLs; greedy decoding), which is what the `endpoint_judge` adapter and other OpenAI
clients speak. It is the small, dependable way to put one judge model on one GPU and let several
distill runs share it; for throughput at scale, point the endpoint judge at vLLM or SGLang instead.
It listens on loopback unless told otherwise, and it never fetches anything: DIR holds the weights
(`make models` puts them under the models dir). One request generates at a time.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import io
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

import torch
from fastapi import FastAPI, HTTPException
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from models.pipeline.judges.vlm import VlmGenerator, shrunk

DATA_URL_PREFIX = "data:image/"


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: str
    content: str | list[dict[str, Any]]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")   # OpenAI clients send many optional fields we do not use

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = None


MAX_REQUEST_PIXELS = 50_000_000  # judge inputs are resized to a few hundred pixels a side anyway


def decode_image(url: str) -> Image.Image:
    """An RGB image from a base64 data URL; anything else is a 400 that says what was wrong."""
    if not url.startswith(DATA_URL_PREFIX) or ";base64," not in url:
        raise HTTPException(400, "image_url must be a base64 data URL (data:image/...;base64,...); "
                                 "this server fetches nothing")
    try:
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1], validate=True)))
    except (binascii.Error, UnidentifiedImageError, OSError) as error:
        raise HTTPException(400, f"image_url does not hold a readable image: {error}") from None
    # its own guard, whatever Pillow's is in this process (storage.images turns Pillow's off)
    if image.width * image.height > MAX_REQUEST_PIXELS:
        raise HTTPException(413, f"image of {image.width}x{image.height} pixels is above this server's limit of "
                                 f"{MAX_REQUEST_PIXELS}")
    try:
        return image.convert("RGB")
    except OSError as error:
        raise HTTPException(400, f"image_url does not hold a readable image: {error}") from None


def processor_chat(messages: Sequence[ChatMessage]) -> tuple[list[dict], list[Image.Image]]:
    """OpenAI messages -> (processor-format chat, its images in order)."""
    chat, images = [], []
    for message in messages:
        items = [{"type": "text", "text": message.content}] if isinstance(message.content, str) else message.content
        content = []
        for item in items:
            if item.get("type") == "text":
                content.append({"type": "text", "text": str(item.get("text", ""))})
            elif item.get("type") == "image_url":
                image_url = item.get("image_url")
                url = image_url.get("url", "") if isinstance(image_url, dict) else str(image_url or "")
                images.append(decode_image(url))
                content.append({"type": "image"})
            else:
                raise HTTPException(400, f"unsupported content item type {item.get('type')!r}; "
                                         "this server takes 'text' and 'image_url'")
        chat.append({"role": message.role, "content": content})
    return chat, images


def create_app(generator: VlmGenerator, name: str, max_new_tokens: int = 64, max_image_side: int = 672) -> FastAPI:
    app = FastAPI(title="rainrag judge server")
    one_at_a_time = threading.Lock()   # one model, one generate call: requests queue here
    created = int(time.time())

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": created, "owned_by": "rainrag"}]}

    @app.post("/v1/chat/completions")
    def chat_completions(request: ChatRequest) -> dict:
        if request.model != name:
            raise HTTPException(404, f"model {request.model!r} is not served here; this server serves {name!r}")
        if request.temperature not in (None, 0, 0.0):
            raise HTTPException(400, "this server decodes greedily only: send temperature 0 or leave it out")
        chat, images = processor_chat(request.messages)
        images = [shrunk(image, max_image_side) for image in images]
        budget = request.max_completion_tokens or request.max_tokens or max_new_tokens
        with one_at_a_time:
            text = generator.chat([chat], [images], budget)[0]
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": name,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}

    return app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models.pipeline.judges.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True,
                        help="folder of a transformers VLM (weights + processor)")
    parser.add_argument("--name", help="the model name clients send (default: the folder's name)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=["float32", "float16", "bfloat16"],
                        help="default: bfloat16 on CUDA, float32 on CPU")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="when a request sets no max_tokens")
    parser.add_argument("--max-image-side", type=int, default=672, help="images are shrunk to this long side")
    args = parser.parse_args(argv)
    if not (args.model_dir / "config.json").is_file():
        parser.error(f"--model-dir {args.model_dir}: no config.json there; it must hold a transformers model")
    import uvicorn

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    generator = VlmGenerator(args.model_dir, device, dtype)
    app = create_app(generator, args.name or args.model_dir.name, args.max_new_tokens, args.max_image_side)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
