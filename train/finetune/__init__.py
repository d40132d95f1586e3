"""Fine-tuning a run: text classification, instruction following, LoRA (the book's chapters
6 and 7 and appendix E), on the trainer's optimizer, schedule, checkpoints and metrics."""
