#!/usr/bin/env bash
# Run cc2gpt's curation job on Dataflow in the custom container (see README.md).
#   PROJECT=my-project REGION=us-central1 BUCKET=my-bucket workflows/dataflow/launch.sh [extra cc2gpt curate options]
set -euo pipefail
: "${PROJECT:?set PROJECT}" "${REGION:?set REGION}" "${BUCKET:?set BUCKET}"
IMAGE=${IMAGE:-$REGION-docker.pkg.dev/$PROJECT/cc2gpt/curate:0.1.0}
INPUT=${INPUT:-gs://$BUCKET/warc/*.warc.gz}
OUTPUT=${OUTPUT:-gs://$BUCKET/out}

exec cc2gpt curate \
  --input "$INPUT" --output "$OUTPUT" --vocab-size 32768 \
  --runner DataflowRunner --project "$PROJECT" --region "$REGION" \
  --temp_location "gs://$BUCKET/tmp" \
  --sdk_container_image "$IMAGE" --sdk_location container \
  --machine_type n2-standard-4 --max_num_workers "${MAX_WORKERS:-50}" \
  "$@"
