"""callcentre: makes a council's telephone promises measurable."""
