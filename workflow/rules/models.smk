# Stage 3: one training job per variant (every seed in it), then the variant's clip-level test evaluation.


rule train:
    input:
        split=str(PATHS.split),
        audio=f"{PROCESSED}/audio.bin",
        audio_index=f"{PROCESSED}/audio.csv",
        windows=lambda wc: windows_of(wc.variant),
        mel=lambda wc: mel_stem_of(wc.variant),
        code=step_code_files("train"),
    output:
        models=expand(f"{MODELS}/{{{{variant}}}}/seed{{seed}}/model.pt", seed=SEEDS),
        configs=expand(f"{MODELS}/{{{{variant}}}}/seed{{seed}}/config.json", seed=SEEDS),
        histories=expand(f"{MODELS}/{{{{variant}}}}/seed{{seed}}/history.csv", seed=SEEDS),
    params:
        variant=lambda wc: find_variant(config, wc.variant).to_dict(),
        seeds=SEEDS,
        model=config["model"],
        training=values_at(config, training_keys(config)),  # the active profile only
        numerics=config["numerics"],
        audio=config["audio"],
        evaluation=config["evaluation"],  # validation's batch size
    threads: config["training"]["threads"]
    priority: lambda wildcards: TRAIN_PRIORITY[wildcards.variant]
    resources:
        **rule_resources("train"),
    log:
        str(PATHS.job_log("train", "{variant}")),
    benchmark:
        str(PATHS.job_benchmark("train", "{variant}")),
    script:
        "../scripts/train.py"


rule evaluate:
    input:
        models=lambda wc: expand(f"{MODELS}/{wc.variant}/seed{{seed}}/model.pt", seed=SEEDS),
        split=str(PATHS.split),
        audio=f"{PROCESSED}/audio.bin",
        audio_index=f"{PROCESSED}/audio.csv",
        windows=lambda wc: windows_of(wc.variant),
        mel=lambda wc: mel_stem_of(wc.variant),
        code=step_code_files("evaluate"),
    output:
        metrics=f"{METRICS}/{{variant}}.json",
        per_tag=f"{METRICS}/{{variant}}_per_tag.csv",
    params:
        evaluation=config["evaluation"],
        seeds=SEEDS,
        numerics=config["numerics"],
        threads=config["training"]["threads"],
    threads: config["training"]["threads"]
    resources:
        **rule_resources("evaluate"),
    log:
        str(PATHS.job_log("evaluate", "{variant}")),
    benchmark:
        str(PATHS.job_benchmark("evaluate", "{variant}")),
    script:
        "../scripts/evaluate.py"
