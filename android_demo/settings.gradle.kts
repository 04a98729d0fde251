pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "mobilebert-demo"
// core: pure Kotlin/JVM (no android.*): manifest, tokenizer, QA post-processing, highlight, latency,
// delegate fallback. `./gradlew :core:test` runs its unit tests without a device.
include(":core")
include(":app")
