"""The authoring tools: what people writing and reviewing policies run."""
