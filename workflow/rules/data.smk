# Stage 1: get the dataset, split it, decode its audio once.


if DATASET == "synth":

    rule synth_dataset:
        input:
            code=step_code_files("synth"),
        output:
            annotations=str(PATHS.annotations),
        params:
            synth=config["synth"],
        threads: rule_threads("synth")
        resources:
            **rule_resources("synth"),
        script:
            "../scripts/synth_dataset.py"

elif DATASET == "mtat":

    # Verifies an existing copy against the published checksums, downloads what is missing.
    rule mtat_metadata:
        input:
            code=step_code_files("mtat_metadata"),
        output:
            verified=str(PATHS.metadata_verified),
        params:
            mtat_dir=str(RAW),
            base_url=config["mtat_base_url"],
        resources:
            **rule_resources("mtat_metadata"),
        script:
            "../scripts/mtat_metadata.py"


rule audio_ready:
    input:
        METADATA,
        code=step_code_files("audio_ready"),
    output:
        str(PATHS.audio_ready),
    params:
        dataset=DATASET,
        raw=str(RAW),
        base_url=config["mtat_base_url"] if DATASET == "mtat" else None,
    resources:
        **rule_resources("audio_ready"),
    script:
        "../scripts/audio_ready.py"


rule split:
    input:
        METADATA,
        code=step_code_files("split"),
    output:
        split=f"{INTERIM}/split.csv",
    params:
        split=config["split"],
    resources:
        **rule_resources("split"),
    script:
        "../scripts/split.py"


rule decode_audio:
    input:
        split=f"{INTERIM}/split.csv",
        ready=f"{INTERIM}/audio_ready.json",
        code=step_code_files("decode_audio"),
    output:
        data=f"{PROCESSED}/audio.bin",
        index=f"{PROCESSED}/audio.csv",
        skipped=f"{INTERIM}/skipped.csv",
    params:
        raw=str(RAW),
        audio=config["audio"],
    threads: rule_threads("decode_audio")
    resources:
        **rule_resources("decode_audio"),
    script:
        "../scripts/decode_audio.py"
