# Stage 1: get the dataset, split it, decode its audio once.


if DATASET == "synth":

    rule synth_dataset:
        output:
            annotations=f"{RAW}/annotations_final.csv",
        params:
            synth=config["synth"],
        threads: 8
        script:
            "../scripts/synth_dataset.py"

    rule audio_ready:
        input:
            f"{RAW}/annotations_final.csv",
        output:
            f"{INTERIM}/audio_ready.json",
        params:
            dataset=DATASET,
            raw=str(RAW),
        script:
            "../scripts/audio_ready.py"

elif DATASET == "mtat":

    rule mtat_metadata:
        output:
            annotations=f"{RAW}/annotations_final.csv",
        params:
            mtat_dir=str(RAW),
            base_url=config["mtat_base_url"],
        script:
            "../scripts/mtat_metadata.py"

    rule audio_ready:
        input:
            f"{RAW}/annotations_final.csv",
        output:
            f"{INTERIM}/audio_ready.json",
        params:
            dataset=DATASET,
            raw=str(RAW),
            base_url=config["mtat_base_url"],
        script:
            "../scripts/audio_ready.py"

else:

    rule audio_ready:
        input:
            f"{RAW}/annotations_final.csv",
        output:
            f"{INTERIM}/audio_ready.json",
        params:
            dataset=DATASET,
            raw=str(RAW),
        script:
            "../scripts/audio_ready.py"


rule split:
    input:
        annotations=f"{RAW}/annotations_final.csv",
    output:
        split=f"{INTERIM}/split.csv",
    params:
        split=config["split"],
    script:
        "../scripts/split.py"


rule decode_audio:
    input:
        split=f"{INTERIM}/split.csv",
        ready=f"{INTERIM}/audio_ready.json",
    output:
        data=f"{PROCESSED}/audio.bin",
        index=f"{PROCESSED}/audio.csv",
        skipped=f"{INTERIM}/skipped.csv",
    params:
        raw=str(RAW),
        audio=config["audio"],
    threads: 8
    resources:
        mem_mb=2000,
    script:
        "../scripts/decode_audio.py"
