"""The engines: image in, image out. No SKUs, no LLM, no database; heavy models load lazily."""
