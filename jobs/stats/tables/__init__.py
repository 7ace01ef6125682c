"""Monthly tables as small Spark DataFrame -> DataFrame functions."""
