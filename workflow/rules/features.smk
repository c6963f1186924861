# Stage 2: ~3 s windows and mel-spectrogram caches, one per (length, stride) pair.


rule windows:
    input:
        index=f"{PROCESSED}/audio.csv",
        code=step_code_files("windows"),
    output:
        windows=f"{PROCESSED}/windows_{{length}}_{{stride}}.csv",
    params:
        audio=config["audio"],
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
    threads: 8
    resources:
        mem_mb=2000,
    script:
        "../scripts/mel_cache.py"
