"""The faces: the Gradio chat app and the `listing-studio` command. Thin: they call agent and tools."""
