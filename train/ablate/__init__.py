"""Data ablations (`cc2gpt ablate`): the same model trained on the data before and after
each curation stage, on the trainer's own loop: arms.py builds the arms from OUT/,
prepare.py writes them as OUT/ folders with one shared tokenizer, run.py trains and scores
them, report.py writes the results."""
