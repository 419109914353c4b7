"""Monthly analysis: the report over the incidents reported in a period, and its formats."""
