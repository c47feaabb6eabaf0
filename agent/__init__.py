"""The brain: the LangGraph graph, its state and context, LLM access and the offline brief reader."""
