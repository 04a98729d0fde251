// Pure Kotlin/JVM: the app logic that needs no device (manifest, tokenizer, Task Library QA
// post-processing, highlight, latency statistics, delegate fallback). No android.* here by construction.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation(libs.junit)
}

tasks.test {
    // the unit tests read the app's committed assets (models.json, examples.json)
    systemProperty("mobilebert.assets", rootProject.file("app/src/main/assets").absolutePath)
}
