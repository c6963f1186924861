# Stage 2: ~3 s windows and mel-spectrogram caches, one per (length, stride) pair.


rule windows:
    input:
        index=f"{PROCESSED}/audio.csv",
        code=step_code_files("windows"),
    output:
        windows=f"{PROCESSED}/windows_{{length}}_{{stride}}.csv",
    params:
        audio=config["audio"],
    priority: CACHE_PRIORITY
    resources:
        **rule_resources("windows"),
    log:
        str(PATHS.job_log("windows", "{length}_{stride}")),
    benchmark:
        str(PATHS.job_benchmark("windows", "{length}_{stride}")),
    script:
        "../scripts/windows.py"


rule mel_cache:
    input:
        data=f"{PROCESSED}/audio.bin",
        index=f"{PROCESSED}/audio.csv",
        code=step_code_files("mel_cache"),
    output:
        data=f"{PROCESSED}/mel_{{length}}_{{stride}}.bin",
        index=f"{PROCESSED}/mel_{{length}}_{{stride}}.csv",
    params:
        audio=config["audio"],
    threads: rule_threads("mel_cache")
    priority: CACHE_PRIORITY
    resources:
        **rule_resources("mel_cache"),
    log:
        str(PATHS.job_log("mel_cache", "{length}_{stride}")),
    benchmark:
        str(PATHS.job_benchmark("mel_cache", "{length}_{stride}")),
    script:
        "../scripts/mel_cache.py"
