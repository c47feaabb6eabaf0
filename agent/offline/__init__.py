"""The offline brief reader: plain seller language to a Brief with rules, no LLM needed."""
