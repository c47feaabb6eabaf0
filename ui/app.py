"""The Gradio chat app (placeholder page until the chat lands): `serve(settings, host, port)`."""

from __future__ import annotations

from tools.errors import Refused
from tools.settings import Settings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    import gradio as gr

    if host not in LOOPBACK and not settings.auth:
        raise Refused(f"binding {host} exposes the app; set LISTING_STUDIO_AUTH=user:password or pass --auth")
    with gr.Blocks(title="Listing Studio") as demo:
        gr.Markdown("# Listing Studio")
    demo.launch(server_name=host, server_port=port)
