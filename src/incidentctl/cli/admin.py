"""Looking after the tool itself: policy check / show, db upgrade."""
