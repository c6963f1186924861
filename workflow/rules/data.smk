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
        log:
            str(PATHS.job_log("synth_dataset", "synth_dataset")),
        benchmark:
            str(PATHS.job_benchmark("synth_dataset", "synth_dataset")),
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
        log:
            str(PATHS.job_log("mtat_metadata", "mtat_metadata")),
        benchmark:
            str(PATHS.job_benchmark("mtat_metadata", "mtat_metadata")),
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
        raw=lambda wildcards: str(RAW),  # where the audio is: MTAT's verified metadata is not there
        base_url=config["mtat_base_url"] if DATASET == "mtat" else None,
    resources:
        **rule_resources("audio_ready"),
    log:
        str(PATHS.job_log("audio_ready", "audio_ready")),
    benchmark:
        str(PATHS.job_benchmark("audio_ready", "audio_ready")),
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
    log:
        str(PATHS.job_log("split", "split")),
    benchmark:
        str(PATHS.job_benchmark("split", "split")),
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
    log:
        str(PATHS.job_log("decode_audio", "decode_audio")),
    benchmark:
        str(PATHS.job_benchmark("decode_audio", "decode_audio")),
    script:
        "../scripts/decode_audio.py"
