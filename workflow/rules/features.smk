# Stage 2: ~3 s windows and mel-spectrogram caches, one per (length, stride) pair.


rule windows:
    input:
        index=f"{PROCESSED}/audio.csv",
        code=step_code_files("windows"),
    output:
        windows=f"{PROCESSED}/windows_{{length}}_{{stride}}.csv",
    params:
        audio=config["audio"],
    resources:
        **rule_resources("windows"),
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
    resources:
        **rule_resources("mel_cache"),
    script:
        "../scripts/mel_cache.py"
