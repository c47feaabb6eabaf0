"""The hands: typed tool functions shared by every face, the domain vocabulary, and the stores.

Nothing here imports from `agent` or `ui`; engines come from `pipelines`.
"""
